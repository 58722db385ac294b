"""Events and latency sketches through storage: the event log, its scan into columns, the sketch log."""
