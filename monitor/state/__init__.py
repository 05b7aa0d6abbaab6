"""Durable state: the SQLite store, its migrations and the cluster index."""
