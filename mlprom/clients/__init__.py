"""Clients of the upstream servers: Prometheus, Alertmanager, Pushgateway, MLflow."""
