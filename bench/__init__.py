"""Benchmarks (`make bench`): real servers on 127.0.0.1, load from a second process."""
