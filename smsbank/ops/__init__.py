"""Beside the bank: go-live checks, Prometheus metrics, the demo customer and the dev phone."""
