"""How a ragplane service is built: app factory, versioning, auth, errors, telemetry, health."""
