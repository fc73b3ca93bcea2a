// Search: the passages of the page's collection that best match a query, with their title,
// section and source, the query's words marked.
import { API, call, collection, queryForm, results } from "../dom.js";

export function render(container) {
  container.append(
    ...queryForm({
      id: "search",
      label: "Search",
      placeholder: "circuit breaker",
      button: "Search",
      action: async (query, output) => {
        const params = new URLSearchParams({ query, collection: collection(), max_results: "5" });
        const body = await call(`${API}/search?${params}`);
        output.append(results(body.results, query));
        return body.took_ms;
      },
    }),
  );
}
