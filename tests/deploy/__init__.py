"""The deployment files (compose, Prometheus, Alertmanager, scripts) against the code and real tools."""
