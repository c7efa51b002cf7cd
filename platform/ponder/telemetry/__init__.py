"""Tracing (OpenTelemetry) and log correlation; metrics live with the deployments."""
