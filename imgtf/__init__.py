"""imgtf: likelihood-based autoregressive image models (Image Transformer, PixelRNN/PixelCNN) on TF2 + Keras 3.

The public API, one namespace:

    import imgtf
    model = imgtf.build_model("imagetransformer_cifar10_tiny")   # a registered set's model, untrained
    run = imgtf.load_run("runs/cifar_tiny")                     # a trained run: run.model, run.problem
    digits = imgtf.load_preset("pixelcnn_binarized_mnist").model.sample(16)  # a trained model shipped with imgtf
    print(imgtf.compare("runs/cifar_avg", "runs/cifar_tiny").verdict)  # paired, on the same test images

    @imgtf.register_problem                                     # your data, by name ("my_photos")
    class MyPhotos(imgtf.ImageFolderProblem): ...

    @imgtf.register_hparams(model="image_transformer", problem="my_photos")
    def my_photos_tiny():
        return imgtf.hparams_set("imagetransformer_cifar10_tiny")   # start from a registered set

Names are resolved on first use: the registry, problems, hparams and likelihood classes load without TensorFlow;
the model classes, `build_model` and `load_run` load Keras and TensorFlow.

Importing this package sets three environment defaults before TensorFlow is imported (they take effect only at its
import): KERAS_BACKEND=tensorflow, TF_ENABLE_ONEDNN_OPTS=1 (about 2x faster CPU training), TF_CPP_MIN_LOG_LEVEL=2.
A value already in the environment wins.
"""
import importlib
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"

_PUBLIC = {  # name: the module that defines it
    # registering and finding things by name
    "register_problem": "imgtf.registry",
    "register_hparams": "imgtf.registry",
    "register_model": "imgtf.registry",
    "register_likelihood": "imgtf.registry",
    "hparams_set": "imgtf.catalog",
    # what a user subclasses or builds
    "Problem": "imgtf.problems.problem",
    "ImageFolderProblem": "imgtf.problems.image_folder",
    "HParams": "imgtf.hparams.hparams",
    "training_params": "imgtf.hparams.training",
    "Likelihood": "imgtf.likelihoods.likelihood",
    # model base classes (Keras, TensorFlow): a new family subclasses one
    "AutoregressiveImageModel": "imgtf.models.base",
    "MaskedConvImageModel": "imgtf.models.pixel_rnn.base",
    "RecurrentImageModel": "imgtf.models.pixel_rnn.base",
    "RowCachedImageModel": "imgtf.models.gated_cnn.base",
    # trained and untrained models from Python (Keras, TensorFlow)
    "build_model": "imgtf.api",
    "load_run": "imgtf.api",
    # trained models by name, path or hub handle (hf://, kaggle://), and publishing your own
    "load_preset": "imgtf.presets.preset",
    "save_preset": "imgtf.presets.preset",
    "upload_preset": "imgtf.presets.preset",
    # two models on the same images: the paired difference and its interval (imgtf-compare)
    "compare": "imgtf.evaluation.comparison",
}
__all__ = sorted(_PUBLIC)


def __getattr__(name):
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'imgtf' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_PUBLIC))
