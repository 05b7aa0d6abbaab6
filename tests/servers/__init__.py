"""Real loopback servers used by integration tests and benchmarks."""
