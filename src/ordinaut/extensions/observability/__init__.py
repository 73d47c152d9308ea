"""The observability extension: Prometheus metrics at `/ext/observability/metrics`."""
