"""Gated causal-convolution models the Image Transformer is compared against (paper Table 4): Gated PixelCNN,
PixelCNN++ and PixelSNAIL, their shared row-cached base and their hparams sets."""
from imgtf.models.gated_cnn.gated_pixelcnn import GatedPixelCNN  # noqa: F401
from imgtf.models.gated_cnn.pixelcnn_pp import PixelCNNPlusPlus  # noqa: F401
from imgtf.models.gated_cnn.pixelsnail import PixelSNAIL  # noqa: F401
