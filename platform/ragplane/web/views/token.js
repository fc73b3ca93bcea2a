// Token: the bearer token the page sends with its API calls, kept in this tab's sessionStorage
// (never in an address, never logged); its subject, plan and expiry as the token says, and the
// rate-limit headers of the gateway's last answer.
import { API, call, el, limits, setToken, token } from "../dom.js";

// A JWT's claims, read without checking the signature: only the gateway can check it.
function claims(jwt) {
  try {
    const part = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), "=")));
  } catch {
    return null;
  }
}

function describe(output) {
  const list = el("dl");
  list.id = "token-facts";
  const fact = (name, value) => list.append(el("dt", name), el("dd", value));
  const jwt = token();
  const c = jwt ? claims(jwt) : null;
  if (!jwt) fact("token", "none: requests are anonymous, on the default plan, limited per address");
  else if (!c) fact("token", "not a JWT (three base64url parts): the gateway will refuse it");
  else {
    fact("subject", String(c.sub ?? "—"));
    fact("plan", String(c.plan ?? "the default plan"));
    fact("expires", c.exp ? new Date(c.exp * 1000).toLocaleString() : "never");
  }
  for (const [name, value] of limits) fact(name, value);
  output.replaceChildren(list);
}

export function render(container) {
  const form = el("form");
  form.id = "token-form";
  form.setAttribute("aria-label", "Token");
  const label = el("label", "Token");
  label.htmlFor = "token-input";
  const input = el("input");
  Object.assign(input, { id: "token-input", type: "password", autocomplete: "off", placeholder: "eyJhbGciOi…", value: token() });
  const forget = el("button", "Forget", "plain");
  forget.type = "button";
  form.append(label, input, el("button", "Use"), forget);
  const status = el("p");
  status.id = "status";
  status.setAttribute("role", "status");
  const output = el("section");
  output.id = "token";
  // One cheap API call shows what the gateway makes of the token: accepted or not, and the limits.
  async function check() {
    try {
      await call(`${API}/collections`);
      status.textContent = token() ? "The gateway accepts this token." : "Anonymous requests are accepted.";
    } catch (error) {
      status.textContent = `Error: ${error.message}`;
    }
    describe(output);
  }
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    setToken(input.value.trim());
    check();
  });
  forget.addEventListener("click", () => {
    input.value = "";
    setToken("");
    check();
  });
  container.append(el("h2", "Token"), form, status, output);
  check();
}
