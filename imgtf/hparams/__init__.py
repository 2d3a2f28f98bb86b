"""Named hparams sets; importing this package registers the built-in ones."""
from imgtf.hparams.hparams import HParams, HParamsError  # noqa: F401
from imgtf.hparams import image_transformer  # noqa: F401  (registers)
from imgtf.hparams import pixel_rnn  # noqa: F401  (registers)


def default_model_and_problem(set_name):
    """The registered model (and a CIFAR-sized problem) an hparams set is written for, by its name's prefix."""
    if set_name.startswith("img2img_"):
        return "img2img_transformer", "img2img_cifar10"
    if set_name.startswith("pixelcnn"):
        return "pixelcnn", "image_cifar10"
    for model in ("row_lstm", "diagonal_bilstm", "multiscale_pixelrnn"):
        if set_name.startswith(model):
            return model, "image_cifar10"
    return "image_transformer", "image_cifar10"
