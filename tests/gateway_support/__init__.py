"""Shared by the gateway tests and benchmark: the test-only echo proto and servicer."""
