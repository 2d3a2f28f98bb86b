"""Evaluation: a split's per-image likelihoods, their statistics and records, and paired comparisons of two runs."""
