"""Telemetry: the metric catalogue and the per-service registries built from it."""
