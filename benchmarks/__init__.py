"""Benchmarks: scripts run by hand or by make targets, not tests."""
