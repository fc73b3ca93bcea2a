-- The registry: collections, their documents, and the chunks each document was split into.
-- Chunks keep their text and Qdrant point id, so a collection can be re-embedded or
-- checked against Qdrant without the source files.

CREATE TABLE IF NOT EXISTS collections (
    name          text PRIMARY KEY,
    embedder      text NOT NULL,
    dimension     integer NOT NULL CHECK (dimension > 0),
    description   text NOT NULL DEFAULT '',
    chunk_size    integer NOT NULL CHECK (chunk_size > 0),
    chunk_overlap integer NOT NULL CHECK (chunk_overlap >= 0),
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS documents (
    collection   text NOT NULL REFERENCES collections (name) ON DELETE CASCADE,
    id           text NOT NULL,
    title        text NOT NULL,
    content_hash text NOT NULL,
    chunks       integer NOT NULL CHECK (chunks >= 0),
    bytes        bigint NOT NULL CHECK (bytes >= 0),
    source       text,
    metadata     jsonb NOT NULL DEFAULT '{}',
    ingested_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (collection, id)
);

CREATE TABLE IF NOT EXISTS chunks (
    collection  text NOT NULL,
    document_id text NOT NULL,
    chunk_index integer NOT NULL CHECK (chunk_index >= 0),
    point_id    uuid NOT NULL,
    section     text NOT NULL DEFAULT '',
    text        text NOT NULL,
    PRIMARY KEY (collection, document_id, chunk_index),
    FOREIGN KEY (collection, document_id) REFERENCES documents (collection, id) ON DELETE CASCADE
);

CREATE INDEX IF NOT EXISTS chunks_point_id ON chunks (point_id);
