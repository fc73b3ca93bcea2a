// Ask: an answer quoting the passages, each claim followed by its passage's number, which links
// to the passage below.
import { API, call, collection, el, queryForm, results } from "../dom.js";

// The answer's text with each [n] made a link to passage n (text nodes and links, never HTML).
function cited(text, sources) {
  const node = el("p");
  let at = 0;
  for (const match of text.matchAll(/\[(\d+)\]/g)) {
    if (!sources.some((s) => String(s.id) === match[1])) continue; // not a passage's number: plain text
    const link = el("a", match[0], "citation");
    link.href = `#source-${match[1]}`;
    link.setAttribute("aria-label", `passage ${match[1]}`);
    link.addEventListener("click", (event) => {
      // Not a navigation: the address names the view, and the passage is on this page.
      event.preventDefault();
      const target = document.getElementById(`source-${match[1]}`);
      target.scrollIntoView({ block: "center" });
      target.focus();
    });
    node.append(text.slice(at, match.index), link);
    at = match.index + match[0].length;
  }
  node.append(text.slice(at));
  return node;
}

export function render(container) {
  container.append(
    ...queryForm({
      id: "ask",
      label: "Ask",
      placeholder: "How are services authenticated?",
      button: "Ask",
      action: async (query, output) => {
        const body = await call(`${API}/query`, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ query, collection: collection(), max_results: 5 }),
        });
        const answer = el("section");
        answer.id = "answer";
        answer.append(el("h2", "Answer"));
        if (body.degraded) {
          // The generating answerer could not answer: say so, and why, above the quoted answer.
          const note = el("p", `Degraded: quoted from the passages instead. ${body.degraded_reason ?? ""}`, "degraded");
          note.id = "degraded";
          answer.append(note);
        }
        const passages = results(body.sources, query);
        for (const item of passages.querySelectorAll("li")) item.tabIndex = -1; // a citation moves focus to its passage
        answer.append(cited(body.answer, body.sources));
        output.append(answer, passages);
        return body.took_ms;
      },
    }),
  );
}
