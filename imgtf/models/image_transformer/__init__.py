"""The Image Transformer family (Parmar et al., ICML 2018): the decoder-only model, the super-resolution
encoder-decoder and their hparams sets."""
