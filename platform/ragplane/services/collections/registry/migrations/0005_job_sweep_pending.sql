-- A failed job whose partial points could not be removed yet (Qdrant was down as well):
-- the flag outlives the process, so the next start sweeps them again instead of leaving
-- half a document searchable.

ALTER TABLE ingestion_jobs ADD COLUMN IF NOT EXISTS sweep_pending boolean NOT NULL DEFAULT false;
