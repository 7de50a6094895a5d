"""Benchmarks: `python -m bench.inbound_api` (see bench/README.md). Never imported by the app or the tests."""
