// The minimal search and Q&A page: two forms, one results list. No framework, no build step.
const API = "/api/v1/rag";
const $ = (id) => document.getElementById(id);
const collection = new URLSearchParams(location.search).get("collection") || "docs";
$("collection-name").textContent = collection;

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (cls) node.className = cls;
  return node;
}

// Maintenance: the gateway's /health keeps answering and says so; the API would answer 503.
async function showMaintenance() {
  const health = await fetch("/health").then((r) => r.json()).catch(() => null);
  const state = health?.dependencies?.maintenance;
  const banner = $("maintenance");
  banner.hidden = state?.status !== "on";
  banner.textContent = state?.status === "on" ? `Maintenance: ${state.message}` : "";
}
showMaintenance();

async function call(url, options) {
  const response = await fetch(url, options);
  const body = await response.json().catch(() => ({}));
  if (response.status === 503 && body.maintenance) showMaintenance();
  if (!response.ok) throw new Error(body.detail || `HTTP ${response.status}`);
  return body;
}

function showResults(results) {
  const list = $("results");
  list.replaceChildren();
  for (const [i, r] of results.entries()) {
    const item = el("li");
    item.id = `source-${r.id ?? i + 1}`;
    item.append(el("h3", r.section ? `${r.title} — ${r.section}` : r.title));
    item.append(el("p", r.text, "text"));
    item.append(el("p", `${r.document_id} · score ${r.score.toFixed(3)}`, "meta"));
    list.append(item);
  }
}

async function run(event, action) {
  event.preventDefault();
  const query = event.target.query.value.trim();
  if (!query) return;
  $("status").textContent = "Working…";
  $("answer").hidden = true;
  try {
    const took = await action(query);
    $("status").textContent = `Done in ${took} ms.`;
  } catch (error) {
    $("status").textContent = `Error: ${error.message}`;
  }
}

$("search-form").addEventListener("submit", (event) => run(event, async (query) => {
  const params = new URLSearchParams({ query, collection, max_results: "5" });
  const body = await call(`${API}/search?${params}`);
  showResults(body.results);
  return body.took_ms;
}));

$("ask-form").addEventListener("submit", (event) => run(event, async (query) => {
  const body = await call(`${API}/query`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ query, collection, max_results: 5 }),
  });
  const answer = $("answer");
  answer.replaceChildren(el("h2", "Answer"), el("p", body.answer));
  answer.hidden = false;
  showResults(body.sources);
  return body.took_ms;
}));
