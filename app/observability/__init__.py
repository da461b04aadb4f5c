"""What an operator watches: Prometheus metrics, structured logs with request ids, OpenTelemetry tracing."""
