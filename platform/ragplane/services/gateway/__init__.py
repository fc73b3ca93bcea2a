"""The gateway: the public door on :8000 that routes /api/v1/rag/* to the services."""
