"""256-way categorical distribution per sub-pixel (van den Oord et al. 2016; Image Transformer 'cat')."""
from keras import ops


class Categorical:
    """params: logits [B, H, W, 3, 256]; values: uint8/int [B, H, W, 3]."""

    unit = "subpixel"
    params_per_unit = 256

    def log_prob(self, logits, values):
        """Log-probability in nats of each sub-pixel value, [B, H, W, 3], computed in float32."""
        logp = ops.log_softmax(ops.cast(logits, "float32"), axis=-1)
        onehot = ops.one_hot(ops.cast(values, "int32"), 256, dtype="float32")
        return ops.sum(logp * onehot, axis=-1)

    def channel_distributions(self, logits, values=None):
        """log p(sub-pixel = v): [B, H, W, 3, 256] (the same interface as DMOL's)."""
        return ops.log_softmax(ops.cast(logits, "float32"), axis=-1)
