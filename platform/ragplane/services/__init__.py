"""The three services. Each imports from kit/, adapters/ and telemetry/, never from another service."""
