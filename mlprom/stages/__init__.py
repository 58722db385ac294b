"""One module per pipeline stage; each exposes run(config, ...) returning a result dataclass."""
