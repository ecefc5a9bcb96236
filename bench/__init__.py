"""Benchmarks: each `bench_<topic>.py` has a `main() -> dict` that prints and returns its figures.

They measure and report; none passes or fails on time. `python -m bench [topic...]` runs them
and writes bench/RESULTS.md.
"""
