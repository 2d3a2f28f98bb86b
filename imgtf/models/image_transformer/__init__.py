"""The Image Transformer family (Parmar et al., ICML 2018): the decoder-only model, the super-resolution
encoder-decoder and their hparams sets."""
from imgtf.models.image_transformer.image_transformer import ImageTransformer  # noqa: F401
from imgtf.models.image_transformer.img2img_transformer import Img2imgTransformer  # noqa: F401
