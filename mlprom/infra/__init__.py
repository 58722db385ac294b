"""Infrastructure values through Prometheus and storage: one snapshot, and history over a window."""
