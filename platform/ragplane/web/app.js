// The page's router: each view is an ES module under views/, imported when it is first opened
// (#/search, #/ask, #/collections, #/health); a link's module is fetched early when the pointer or focus reaches
// it. A view's render may return a function that stops it (a timer, say) when another is shown.
import { collection, showMaintenance } from "./dom.js";

const VIEWS = ["search", "ask", "collections", "health"];
const modules = new Map();
let stopShown = null;
const load = (name) => {
  if (!modules.has(name)) modules.set(name, import(`./views/${name}.js`));
  return modules.get(name);
};

function current() {
  const name = location.hash.replace(/^#\//, "");
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
    view.querySelector("input")?.focus();
  } catch (error) {
    modules.delete(name);
    view.textContent = `This view could not be loaded (${error.message}); reload the page to try again.`;
  }
}

document.getElementById("collection-name").textContent = collection;
for (const link of document.querySelectorAll("nav a")) {
  for (const event of ["pointerenter", "focus"]) link.addEventListener(event, () => load(link.dataset.view));
}
window.addEventListener("hashchange", show);
showMaintenance();
show();
