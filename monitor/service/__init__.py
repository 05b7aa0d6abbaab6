"""The running service: the application object, the daemon, ops server, metrics, logs, config."""
