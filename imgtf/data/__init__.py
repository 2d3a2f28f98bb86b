"""Readers of datasets in their official on-disk forms (no TensorFlow at import time)."""
