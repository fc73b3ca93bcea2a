// A small SVG chart: stacked bars or lines over a shared x axis, drawn with DOM calls (no HTML
// strings, no inline styles: colours come from the stylesheet's .series-NAME classes). Only the
// Activity view imports it, so no other view pays for it.
const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 600;
const HEIGHT = 160;
const LEFT = 44; // room for the y axis's labels
const BOTTOM = 18;

function node(tag, attributes, text) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  if (text !== undefined) element.textContent = text;
  return element;
}

// A round number at or above `value`, so the y axis reads 0, 5, 10… rather than 0, 3.7, 7.4.
function ceiling(value) {
  if (value <= 0) return 1;
  const step = 10 ** Math.floor(Math.log10(value));
  return [1, 2, 5, 10].map((m) => m * step).find((v) => v >= value);
}

// `series`: [{ name, label, values }], values aligned with `xLabels`; null values are gaps.
export function chart({ title, unit, kind, xLabels, series }) {
  const svg = node("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", class: "chart" });
  svg.append(node("title", {}, title));
  const stacked = xLabels.map((_, i) => series.reduce((sum, s) => sum + (s.values[i] ?? 0), 0));
  const perPoint = kind === "bars" ? stacked : series.flatMap((s) => s.values.filter((v) => v != null));
  const top = ceiling(Math.max(0, ...perPoint));
  const plotHeight = HEIGHT - BOTTOM;
  const x = (i) => LEFT + ((WIDTH - LEFT) * i) / Math.max(1, xLabels.length);
  const y = (v) => plotHeight - (plotHeight - 4) * (v / top);
  for (const v of [0, top / 2, top]) {
    svg.append(node("line", { x1: LEFT, x2: WIDTH, y1: y(v), y2: y(v), class: "grid" }));
    svg.append(node("text", { x: LEFT - 4, y: y(v) + 4, "text-anchor": "end", class: "axis" }, `${v} ${unit}`));
  }
  for (const i of [0, xLabels.length - 1]) {
    const anchor = i === 0 ? "start" : "end";
    svg.append(node("text", { x: i === 0 ? LEFT : WIDTH, y: HEIGHT - 4, "text-anchor": anchor, class: "axis" }, xLabels[i]));
  }
  const width = (WIDTH - LEFT) / Math.max(1, xLabels.length);
  if (kind === "bars") {
    const base = xLabels.map(() => 0);
    for (const s of series) {
      for (const [i, v] of s.values.entries()) {
        if (!v) continue;
        const bar = node("rect", { x: x(i), y: y(base[i] + v), width: Math.max(1, width - 1), height: y(base[i]) - y(base[i] + v), class: `series-${s.name}` });
        bar.append(node("title", {}, `${xLabels[i]}: ${v} ${s.label}`));
        svg.append(bar);
        base[i] += v;
      }
    }
  } else {
    for (const s of series) {
      const points = s.values.map((v, i) => (v == null ? null : [x(i) + width / 2, y(v), i, v])).filter(Boolean);
      if (!points.length) continue;
      svg.append(node("polyline", { points: points.map(([px, py]) => `${px},${py}`).join(" "), class: `line series-${s.name}` }));
      for (const [px, py, i, v] of points) {
        // A dot per minute: one busy minute among idle ones is a point, not an invisible line.
        const dot = node("circle", { cx: px, cy: py, r: 2.5, class: `series-${s.name}` });
        dot.append(node("title", {}, `${xLabels[i]}: ${v} ${unit} ${s.label}`));
        svg.append(dot);
      }
    }
  }
  return svg;
}
