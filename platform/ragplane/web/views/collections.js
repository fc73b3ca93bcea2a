// Collections: what each holds, creating and deleting one, uploading files into one and following
// the ingestion job to its end, and the latest jobs.
import { API, call, el } from "../dom.js";

const JOB_POLL_MS = 500;

function cell(row, text) {
  row.append(el("td", text));
}

async function table(onDelete) {
  const { collections } = await call(`${API}/collections`);
  const body = el("tbody");
  const stats = await Promise.all(
    collections.map((c) => call(`${API}/collections/${encodeURIComponent(c.name)}/stats`).catch(() => ({}))),
  );
  for (const [i, c] of collections.entries()) {
    const row = el("tr");
    row.id = `collection-${c.name}`;
    const open = el("a", c.name);
    open.href = `/?collection=${encodeURIComponent(c.name)}#/search`;
    const name = el("td");
    name.append(open);
    row.append(name);
    const s = stats[i];
    cell(row, String(c.documents));
    cell(row, String(c.chunks));
    cell(row, String(s.vectors ?? "—"));
    cell(row, s.disk_bytes == null ? "—" : `${(s.disk_bytes / 1024).toFixed(0)} KiB`);
    cell(row, s.last_ingested_at ? new Date(s.last_ingested_at).toLocaleString() : "never");
    const remove = el("button", "Delete", "secondary");
    remove.setAttribute("aria-label", `Delete ${c.name}`);
    remove.addEventListener("click", () => onDelete(c.name));
    const actions = el("td");
    actions.append(remove);
    row.append(actions);
    body.append(row);
  }
  const head = el("tr");
  for (const title of ["collection", "documents", "chunks", "vectors", "on disk", "last ingestion", "actions"]) {
    head.append(el("th", title));
  }
  const thead = el("thead");
  thead.append(head);
  const result = el("table");
  result.id = "collections";
  result.append(thead, body);
  const scroll = el("div", undefined, "scroll"); // a phone scrolls the table, not the page
  scroll.append(result);
  return [scroll, collections.map((c) => c.name)];
}

async function jobs() {
  const { jobs: latest } = await call(`${API}/jobs?limit=10`);
  const list = el("ul");
  list.id = "jobs";
  for (const job of latest) {
    const d = job.documents;
    const text = `${job.collection}: ${job.state} — ${d.ingested} ingested, ${d.skipped} unchanged, ${d.failed} failed`;
    list.append(el("li", job.error ? `${text}; ${job.error}` : text));
  }
  return list;
}

async function follow(url, status) {
  for (;;) {
    const job = await call(url);
    status.textContent = `Job ${job.state}: ${job.chunks} of ${job.chunks_total ?? "?"} chunks stored.`;
    if (job.state === "completed" || job.state === "failed") return job;
    await new Promise((resolve) => setTimeout(resolve, JOB_POLL_MS));
  }
}

function uploadForm(names, status, refresh) {
  const form = el("form");
  form.id = "upload-form";
  form.setAttribute("aria-label", "Upload documents");
  const pick = el("select");
  pick.id = "upload-collection";
  pick.setAttribute("aria-label", "Collection to upload into");
  for (const name of names) pick.append(el("option", name));
  const files = el("input");
  Object.assign(files, { id: "upload-files", type: "file", multiple: true, accept: ".md,.markdown,.txt,text/*" });
  files.setAttribute("aria-label", "Markdown or text files");
  form.append(el("span", "Upload into"), pick, files, el("button", "Upload"));
  form.addEventListener("dragover", (event) => event.preventDefault());
  form.addEventListener("drop", (event) => {
    event.preventDefault();
    files.files = event.dataTransfer.files;
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!files.files.length) return void (status.textContent = "Choose or drop Markdown or text files first.");
    const data = new FormData();
    for (const file of files.files) data.append("files", file, file.name);
    status.textContent = "Uploading…";
    try {
      const accepted = await call(`${API}/collections/${encodeURIComponent(pick.value)}/documents`, {
        method: "POST",
        body: data,
      });
      const job = await follow(`${API}/jobs/${encodeURIComponent(accepted.id)}`, status);
      status.textContent = job.state === "completed"
        ? `Ingestion completed: ${job.documents.ingested} ingested, ${job.documents.skipped} unchanged.`
        : `Ingestion failed: ${job.error}`;
      await refresh();
    } catch (error) {
      status.textContent = `Error: ${error.message}`;
    }
  });
  return form;
}

function createForm(status, refresh) {
  const form = el("form");
  form.id = "create-form";
  form.setAttribute("aria-label", "Create a collection");
  const name = el("input");
  Object.assign(name, { id: "create-name", required: true, maxLength: 63, placeholder: "notes" });
  const label = el("label", "New");
  label.htmlFor = "create-name";
  form.append(label, name, el("button", "Create"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await call(`${API}/collections`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ name: name.value.trim() }),
      });
      status.textContent = `Collection ${name.value.trim()} created.`;
      name.value = "";
      await refresh();
    } catch (error) {
      status.textContent = `Error: ${error.message}`;
    }
  });
  return form;
}

export function render(container) {
  const status = el("p", "Loading…");
  status.id = "status";
  status.setAttribute("role", "status");
  const listing = el("div");
  async function refresh() {
    try {
      const [list, names] = await table(remove);
      const upload = names.length ? uploadForm(names, status, refresh) : el("p", "Create a collection to upload into.");
      listing.replaceChildren(list, upload, el("h3", "Latest jobs"), await jobs());
      if (status.textContent === "Loading…") status.textContent = "";
    } catch (error) {
      status.textContent = `Error: ${error.message}`;
    }
  }
  async function remove(name) {
    if (!confirm(`Delete the collection ${name} and every document in it?`)) return;
    try {
      await call(`${API}/collections/${encodeURIComponent(name)}`, { method: "DELETE" });
      status.textContent = `Collection ${name} deleted.`;
      await refresh();
    } catch (error) {
      status.textContent = `Error: ${error.message}`;
    }
  }
  container.append(el("h2", "Collections"), createForm(status, refresh), status, listing);
  refresh();
}
