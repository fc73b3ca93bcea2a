// Ask: an answer quoting the passages, each claim followed by its passage's number.
import { API, call, collection, el, queryForm, results } from "../dom.js";

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
          body: JSON.stringify({ query, collection, max_results: 5 }),
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
        answer.append(el("p", body.answer));
        output.append(answer, results(body.sources));
        return body.took_ms;
      },
    }),
  );
}
