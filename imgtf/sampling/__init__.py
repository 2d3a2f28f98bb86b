"""Sampling images from trained models: cached incremental sampling and the naive reference."""
from imgtf.sampling.sampler import cached_sample, naive_sample  # noqa: F401
