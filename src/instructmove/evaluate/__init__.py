"""Evaluation: benchmark loading, pixel and CLIP metrics, baselines, results tables, model promotion."""
