// What every view shares: elements made from text (never from HTML), the API call, the results list.
export const API = "/api/v1/rag";
export const collection = new URLSearchParams(location.search).get("collection") || "docs";

export function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (cls) node.className = cls;
  return node;
}

// Maintenance: the gateway's /health keeps answering and says so; the API would answer 503.
export async function showMaintenance() {
  const health = await fetch("/health").then((r) => r.json()).catch(() => null);
  const state = health?.dependencies?.maintenance;
  const banner = document.getElementById("maintenance");
  banner.hidden = state?.status !== "on";
  banner.textContent = state?.status === "on" ? `Maintenance: ${state.message}` : "";
}

export async function call(url, options) {
  const response = await fetch(url, options);
  const body = await response.json().catch(() => ({}));
  if (response.status === 503 && body.maintenance) showMaintenance();
  if (!response.ok) throw new Error(body.detail || `HTTP ${response.status}`);
  return body;
}

export function results(items) {
  const list = el("ol");
  list.id = "results";
  for (const [i, r] of items.entries()) {
    const item = el("li");
    item.id = `source-${r.id ?? i + 1}`;
    item.append(el("h3", r.section ? `${r.title} — ${r.section}` : r.title));
    item.append(el("p", r.text, "text"));
    item.append(el("p", `${r.document_id} · score ${r.score.toFixed(3)}`, "meta"));
    list.append(item);
  }
  return list;
}

// A form of one text field whose submissions run `action(query)`, reporting in a status line.
export function queryForm({ id, label, placeholder, button, action }) {
  const form = el("form");
  form.id = `${id}-form`;
  form.setAttribute("aria-label", label);
  const name = el("label", label);
  name.htmlFor = `${id}-input`;
  const input = el("input");
  Object.assign(input, { id: `${id}-input`, name: "query", type: "text", maxLength: 1000, required: true, placeholder });
  form.append(name, input, el("button", button));
  const status = el("p");
  status.id = "status";
  status.setAttribute("role", "status");
  const output = el("section");
  output.id = "output";
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const query = input.value.trim();
    if (!query) return;
    status.textContent = "Working…";
    output.replaceChildren();
    try {
      const took = await action(query, output);
      status.textContent = `Done in ${took} ms.`;
    } catch (error) {
      status.textContent = `Error: ${error.message}`;
    }
  });
  return [form, status, output];
}
