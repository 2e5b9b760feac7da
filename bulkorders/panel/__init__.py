"""Talking to SMM panels: the API v2 client, its answer schemas, and the built-in sandbox panel."""
