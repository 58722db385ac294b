"""What correlate stores and later stages read: the correlation report, drift samples, alert state."""
