"""256-way categorical distribution per sub-pixel (van den Oord et al. 2016; Image Transformer 'cat')."""
from keras import ops


class Categorical:
    """params: logits [B, H, W, 3, 256]; values: uint8/int [B, H, W, 3]."""

    params_per_subpixel = 256

    def log_prob(self, logits, values):
        """Log-probability in nats of each sub-pixel value, [B, H, W, 3], computed in float32."""
        logp = ops.log_softmax(ops.cast(logits, "float32"), axis=-1)
        onehot = ops.one_hot(ops.cast(values, "int32"), 256, dtype="float32")
        return ops.sum(logp * onehot, axis=-1)

    def probabilities(self, logits, temperature=1.0):
        return ops.softmax(ops.cast(logits, "float32") / temperature, axis=-1)
