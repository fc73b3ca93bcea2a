"""The collections service: registry, documents, ingestion jobs and stats."""
