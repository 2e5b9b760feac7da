"""`services` and `balance`."""
