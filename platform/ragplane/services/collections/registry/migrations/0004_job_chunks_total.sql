-- An ingestion job's chunk total (of the documents it ingests, known once they are
-- chunked), beside `chunks`, which now counts as chunks are stored: progress for a job of
-- one large document.

ALTER TABLE ingestion_jobs ADD COLUMN IF NOT EXISTS chunks_total integer NOT NULL DEFAULT 0;
