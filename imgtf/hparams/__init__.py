"""Named hparams sets; importing this package registers the built-in ones."""
from imgtf.hparams.hparams import HParams, HParamsError  # noqa: F401
from imgtf.hparams import image_transformer  # noqa: F401  (registers)
