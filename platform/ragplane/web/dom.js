// What every view shares: elements made from text (never from HTML), the API call with the
// session's token, the collection the page is on, the results list and the query form.
export const API = "/api/v1/rag";
const TOKEN_KEY = "ragplane.token";

// The collection is part of the page's address (?collection=), so a link keeps it.
export const collection = () => new URLSearchParams(location.search).get("collection") || "docs";

export function setCollection(name) {
  const url = new URL(location.href);
  url.searchParams.set("collection", name);
  history.replaceState(null, "", url);
  dispatchEvent(new Event("collectionchange"));
}

// A view's own parameters follow its name in the hash: #/search?q=breaker.
export const viewParams = () => new URLSearchParams(location.hash.split("?")[1] ?? "");

// The token lives in this tab's sessionStorage only: never in an address, never sent elsewhere.
export const token = () => sessionStorage.getItem(TOKEN_KEY) ?? "";
export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

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

// The API's answer as JSON, or an Error with its problem's message. The last answer's
// rate-limit headers are kept for the Token view.
export const limits = new Map();
const LIMIT_HEADERS = ["RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "Retry-After"];

export async function call(url, options = {}) {
  const headers = new Headers(options.headers);
  if (token()) headers.set("Authorization", `Bearer ${token()}`);
  const response = await fetch(url, { ...options, headers });
  limits.clear();
  for (const name of LIMIT_HEADERS) {
    if (response.headers.has(name)) limits.set(name, response.headers.get(name));
  }
  const body = await response.json().catch(() => ({}));
  if (response.status === 503 && body.maintenance) showMaintenance();
  if (response.status === 429) {
    throw new Error(`Too many requests: ${body.detail ?? `retry in ${limits.get("Retry-After")} s.`}`);
  }
  if (!response.ok) throw new Error(body.detail || `HTTP ${response.status}`);
  return body;
}

// Words too common to mark: marking every "the" and "does" would hide the words that matched.
const COMMON = new Set(
  ("the and for are but not was were what when where which who whom why how does did done can could " +
    "should would will with from this that these those have has had about into your you their there " +
    "then than all any our its also been being over under more most some such only other").split(" "),
);

// Where a query's words occur in `text`, marked: the text is split into text nodes and <mark>s.
function highlighted(text, query) {
  const found = query.toLowerCase().match(/[\p{L}\p{N}]{3,}/gu) ?? [];
  const words = [...new Set(found.filter((w) => !COMMON.has(w)))];
  const node = el("p", undefined, "text");
  if (!words.length) return Object.assign(node, { textContent: text });
  // A plural's stem marks its singular too ("breakers" marks "breaker").
  const stems = words.map((w) => (w.length > 4 ? w.replace(/s$/, "") : w).replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  const pattern = new RegExp(`\\b(?:${stems.join("|")})[\\p{L}\\p{N}]*`, "giu");
  let at = 0;
  for (const match of text.matchAll(pattern)) {
    node.append(text.slice(at, match.index), el("mark", match[0]));
    at = match.index + match[0].length;
  }
  node.append(text.slice(at));
  return node;
}

// The passages found, as a section with a heading (the page's heading levels stay in order).
export function results(items, query = "") {
  const section = el("section");
  const list = el("ol");
  list.id = "results";
  if (!items.length) {
    list.append(el("li", "Nothing matches. Try other words, or pick another collection above."));
  }
  for (const [i, r] of items.entries()) {
    const item = el("li");
    item.id = `source-${r.id ?? i + 1}`;
    item.append(el("h3", r.section ? `${r.title} — ${r.section}` : r.title));
    item.append(highlighted(r.text, query));
    item.append(el("p", `${r.source ?? r.document_id} · score ${r.score.toFixed(3)}`, "meta"));
    list.append(item);
  }
  section.append(el("h2", "Passages"), list);
  return section;
}

// A form of one text field whose submissions run `action(query, output)`, reporting in a status
// line. The query goes into the view's address (#/search?q=…): a link to it runs it again.
export function queryForm({ id, label, placeholder, button, action }) {
  const form = el("form");
  form.id = `${id}-form`;
  form.setAttribute("aria-label", label);
  const name = el("label", label);
  name.htmlFor = `${id}-input`;
  const input = el("input");
  Object.assign(input, { id: `${id}-input`, name: "query", type: "search", maxLength: 1000, required: true, placeholder });
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
    history.replaceState(null, "", `#/${id}?${new URLSearchParams({ q: query })}`);
    status.textContent = "Working…";
    output.replaceChildren();
    try {
      const took = await action(query, output);
      status.textContent = `Done in ${took} ms.`;
    } catch (error) {
      status.textContent = `Error: ${error.message}`;
    }
  });
  const asked = viewParams().get("q");
  if (asked) {
    input.value = asked;
    queueMicrotask(() => form.requestSubmit());
  }
  return [form, status, output];
}
