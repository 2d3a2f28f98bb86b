"""Gated causal-convolution models the Image Transformer is compared against (paper Table 4): Gated PixelCNN,
PixelCNN++ and PixelSNAIL, their shared row-cached base and their hparams sets."""
