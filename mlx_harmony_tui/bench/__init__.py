"""Benchmarks that compare this app with raw mlx-lm on the same loaded model."""
