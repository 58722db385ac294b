"""Process plumbing of the CLI: the first signal handler, interrupts, stdout kept for the result."""
