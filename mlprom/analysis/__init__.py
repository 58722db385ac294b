"""Pure functions over plain data: thresholds, suspects, drift. No I/O here."""
