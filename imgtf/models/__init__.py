"""Models; importing this package registers the built-in ones.

Every model is a keras.Model built as `Model(hparams_dict, problem_info)` that maps a features dict to
its likelihood's parameters and exposes `log_prob(features) -> [B, H, W, 3]` in nats, so that the
trainer, evaluator and exporter never special-case a model.
"""
from imgtf.models import image_transformer  # noqa: F401  (registers)
from imgtf.models import pixel_cnn  # noqa: F401  (registers)
from imgtf.models import row_lstm  # noqa: F401  (registers)
from imgtf.models import diagonal_bilstm  # noqa: F401  (registers)
from imgtf.models import multiscale_pixelrnn  # noqa: F401  (registers)
