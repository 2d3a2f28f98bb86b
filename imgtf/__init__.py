"""imgtf: likelihood-based autoregressive image models (Image Transformer, PixelRNN/PixelCNN) on TF2 + Keras 3.

    model = imgtf.build_model("imagetransformer_cifar10_tiny")            # a registered set's model, untrained
    run = imgtf.load_run("runs/cifar_tiny")                              # a trained run: run.model, run.problem

Importing this package sets three environment defaults *before* TensorFlow is imported, because they only
take effect at TensorFlow's import time and were measured to matter on CPU machines (see docs/architecture.md):
  KERAS_BACKEND=tensorflow, TF_ENABLE_ONEDNN_OPTS=1 (about 2x faster CPU training), TF_CPP_MIN_LOG_LEVEL=2.
Each is only a default: a value already in the environment wins. `build_model` and `load_run` are imported on
first use, so `import imgtf` alone stays light.
"""
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
__all__ = ["build_model", "load_run"]


def __getattr__(name):
    if name in __all__:
        from imgtf import api

        return getattr(api, name)
    raise AttributeError(f"module 'imgtf' has no attribute {name!r}")
