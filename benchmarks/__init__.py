"""Benchmarks of parmap against builtin map and the common process pools."""
