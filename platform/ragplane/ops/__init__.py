"""Operator tooling that talks to a running stack: ingestion from disk (later: backups, drills)."""
