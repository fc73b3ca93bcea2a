// Activity: searches, questions and errors per minute over the last hour, and their latency,
// drawn as charts from /api/v1/rag/activity (the query log's rollup with PostgreSQL, the
// answering replica's own counts otherwise); refreshed every few seconds while shown.
import { API, call, el } from "../dom.js";
import { chart } from "./chart.js";

const REFRESH_MS = 10000;
const SOURCES = {
  query_log: "from the query log's per-minute rollup (every query replica; the newest minute may lag)",
  replica: "from the answering query replica's own counts since it started",
};

function legend(series) {
  const list = el("ul", undefined, "legend");
  for (const s of series) list.append(el("li", s.label, `key-${s.name}`));
  return list;
}

function draw(body) {
  const minutes = body.buckets.map((b) => new Date(b.minute).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }));
  const pick = (key) => body.buckets.map((b) => b[key]);
  const volume = [
    { name: "searches", label: "searches", values: pick("searches") },
    { name: "questions", label: "questions", values: pick("questions") },
    { name: "errors", label: "errors (5xx)", values: pick("errors") },
  ];
  const latency = [
    { name: "average", label: "average latency", values: pick("latency_avg_ms") },
    { name: "maximum", label: "slowest request", values: pick("latency_max_ms") },
  ];
  const total = (key, one, many) => {
    const n = body.buckets.reduce((sum, b) => sum + b[key], 0);
    return `${n} ${n === 1 ? one : many}`;
  };
  const section = el("section");
  section.id = "activity-charts";
  section.append(
    el(
      "p",
      `${total("searches", "search", "searches")}, ${total("questions", "question", "questions")} and ` +
        `${total("errors", "error", "errors")} in the last ${body.minutes} minutes, ${SOURCES[body.source]}.`,
    ),
    el("h3", "Requests per minute"),
    chart({ title: "Requests per minute", unit: "", kind: "bars", xLabels: minutes, series: volume }),
    legend(volume),
    el("h3", "Latency per minute"),
    chart({ title: "Latency per minute, milliseconds", unit: "ms", kind: "lines", xLabels: minutes, series: latency }),
    legend(latency),
  );
  return section;
}

export function render(container) {
  const status = el("p", "Loading…", "meta");
  status.id = "status";
  status.setAttribute("role", "status");
  const charts = el("div", undefined, "charts");
  container.append(el("h2", "Activity"), status, charts);
  let stopped = false;
  async function refresh() {
    try {
      const body = await call(`${API}/activity?minutes=60`);
      if (stopped) return;
      charts.replaceChildren(draw(body));
      status.textContent = `Updated ${new Date().toLocaleTimeString()}; refreshes every ${REFRESH_MS / 1000} s.`;
    } catch (error) {
      if (!stopped) status.textContent = `Error: ${error.message}`;
    }
  }
  refresh();
  const timer = setInterval(refresh, REFRESH_MS);
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}
