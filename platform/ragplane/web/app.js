// The page's router: each view is an ES module under views/, imported when it is first opened
// (#/search, #/ask, …; a view's own parameters follow, as in #/search?q=breaker); a link's module
// is fetched early when the pointer or focus reaches it. A view's render may return a function
// that stops it (a timer, say) when another is shown.
import { API, call, collection, el, setCollection, showMaintenance } from "./dom.js";

const VIEWS = ["search", "ask", "collections", "health", "activity", "token"];
const modules = new Map();
let stopShown = null;
const load = (name) => {
  if (!modules.has(name)) {
    const loading = import(`./views/${name}.js`);
    loading.catch(() => modules.delete(name)); // a failed fetch is tried again next time
    modules.set(name, loading);
  }
  return modules.get(name);
};

function current() {
  const name = location.hash.replace(/^#\//, "").split("?")[0];
  return VIEWS.includes(name) ? name : VIEWS[0];
}

async function show() {
  const name = current();
  for (const link of document.querySelectorAll("nav a")) {
    if (link.dataset.view === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const view = document.getElementById("view");
  try {
    const module = await load(name);
    if (name !== current()) return; // another view was asked for meanwhile
    const container = document.createElement("div");
    stopShown?.();
    stopShown = module.render(container) ?? null;
    view.replaceChildren(container);
    view.querySelector("input, select, button")?.focus();
  } catch (error) {
    view.textContent = `This view could not be loaded (${error.message}); reload the page to try again.`;
  }
}

// The header's collection picker: the page's collection at once, the others when the API lists them.
async function pickCollections() {
  const picker = document.getElementById("collection-picker");
  const option = (name) => Object.assign(el("option", name), { value: name });
  picker.replaceChildren(option(collection()));
  picker.addEventListener("change", () => setCollection(picker.value));
  const { collections } = await call(`${API}/collections`).catch(() => ({ collections: [] }));
  for (const { name } of collections) {
    if (name !== collection()) picker.append(option(name));
  }
}

for (const link of document.querySelectorAll("nav a")) {
  for (const event of ["pointerenter", "focus"]) link.addEventListener(event, () => load(link.dataset.view).catch(() => {}));
}
// A view records its own parameters with history.replaceState, which fires no hashchange.
window.addEventListener("hashchange", show);
window.addEventListener("collectionchange", show);
showMaintenance();
pickCollections();
show();
