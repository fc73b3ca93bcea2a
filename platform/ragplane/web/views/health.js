// Health: the gateway, each service behind it with its circuit breakers, the maintenance switch
// and the rate limiter, as the gateway's /health reports them; refreshed every few seconds.
import { el } from "../dom.js";

const REFRESH_MS = 3000;
const SERVICES = ["query", "collections"];

function badge(state) {
  return el("span", state, `badge state-${state}`);
}

function service(name, report) {
  const card = el("section", undefined, "card");
  card.id = `health-${name}`;
  const status = report?.status ?? "unknown";
  const title = el("h3", `${name} `);
  title.append(badge(status));
  card.append(title);
  if (report?.latency_ms !== undefined) card.append(el("p", `answered in ${report.latency_ms} ms`, "meta"));
  if (report?.detail) card.append(el("p", report.detail));
  const checks = Object.entries(report?.checks ?? {});
  if (checks.length) {
    const list = el("p", "", "checks");
    for (const [dependency, state] of checks) list.append(`${dependency} `, badge(state), " ");
    card.append(list);
  }
  // Serving, but in a reduced way: the registry on its JSON copy, a cache that cannot be reached.
  for (const [dependency, state] of Object.entries(report?.degraded ?? {})) {
    const note = el("p", `${dependency}: ${state}`, "degraded");
    note.id = `degraded-${name}-${dependency.replace(/\W/g, "-")}`;
    card.append(note);
  }
  const replicas = Object.entries(report?.replicas ?? {});
  if (replicas.length > 1) {
    const list = el("ul", undefined, "breakers");
    for (const [n, state] of replicas) {
      const item = el("li", `replica ${n} `);
      item.id = `replica-${name}-${n}`;
      item.append(badge(state));
      list.append(item);
    }
    card.append(list);
  }
  const breakers = Object.entries(report?.breakers ?? {});
  if (breakers.length) {
    const list = el("ul", undefined, "breakers");
    for (const [breaker, b] of breakers) {
      const item = el("li", `${breaker} breaker `);
      item.id = `breaker-${name}-${breaker}`;
      item.append(badge(b.state));
      if (b.state !== "closed") item.append(el("span", ` retry in ${b.retry_after_seconds} s`, "meta"));
      list.append(item);
    }
    card.append(list);
  }
  return card;
}

function gateway(health) {
  const card = el("section", undefined, "card");
  card.id = "health-gateway";
  const title = el("h3", "gateway ");
  title.append(badge(health ? "up" : "down"));
  const deps = health?.dependencies ?? {};
  card.append(title, el("p", `maintenance: ${deps.maintenance?.status ?? "unknown"}`));
  if (deps.rate_limit) card.append(el("p", `rate limits: ${deps.rate_limit.backend}, ${deps.rate_limit.status}`));
  return card;
}

export function render(container) {
  const updated = el("p", "Asking…", "meta");
  updated.id = "health-updated";
  const cards = el("div", undefined, "cards");
  cards.id = "health";
  const now = el("button", "Refresh now", "plain");
  now.addEventListener("click", () => refresh());
  container.append(el("h2", "Health"), updated, now, cards);
  let stopped = false;
  async function refresh() {
    const health = await fetch("/health").then((r) => r.json()).catch(() => null);
    if (stopped) return;
    const deps = health?.dependencies ?? {};
    cards.replaceChildren(gateway(health), ...SERVICES.map((name) => service(name, deps[name])));
    updated.textContent = health
      ? `Updated ${new Date().toLocaleTimeString()}; refreshes every ${REFRESH_MS / 1000} s.`
      : "The gateway does not answer; trying again.";
  }
  refresh();
  const timer = setInterval(refresh, REFRESH_MS);
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}
