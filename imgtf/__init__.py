"""imgtf: likelihood-based autoregressive image models (Image Transformer, PixelRNN/PixelCNN) on TF2 + Keras 3.

Importing this package sets three environment defaults *before* TensorFlow is imported, because they only
take effect at TensorFlow's import time and were measured to matter on CPU machines (see docs/architecture.md):
  KERAS_BACKEND=tensorflow, TF_ENABLE_ONEDNN_OPTS=1 (about 2x faster CPU training), TF_CPP_MIN_LOG_LEVEL=2.
Each is only a default: a value already in the environment wins.
"""
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
