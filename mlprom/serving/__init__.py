"""Serving-side code: the Monitor wrapper, its prometheus_client metrics, the latency recorder."""
