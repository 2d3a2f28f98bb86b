"""PixelSNAIL's causal attention (Chen et al. 2018): every pixel attends to all strictly earlier pixels in raster
order, single head, scores q.k / sqrt(key size). Queries, keys and values are computed outside (1x1 gated
ResNets over the features, the image and the position), so the layer has no weights. The first pixel has no
earlier pixel and gets zeros, as in the authors' code.

`row(query_row, cache, row, row, key=..., value=...)` stores a row's keys and values and attends from its queries
(imgtf.layers.row_pass): a sampling step costs one row of queries against the image's keys, not the image's."""
import math

import keras
from keras import ops

from imgtf.layers.composite import BuiltAtFirstCall


@keras.saving.register_keras_serializable("imgtf")
class CausalAttention(BuiltAtFirstCall, keras.layers.Layer):
    needs_cache = True
    level_change = 0

    def __init__(self, key_size, value_size, **kwargs):
        super().__init__(**kwargs)
        self.key_size, self.value_size = int(key_size), int(value_size)

    def _attend(self, query, keys, values, allowed):
        """query [B, Q, dk], keys [B, N, dk], values [B, N, dv], allowed [Q, N] bool -> [B, Q, dv]."""
        scores = ops.einsum("bqd,bnd->bqn", query, keys) / math.sqrt(self.key_size)
        scores = ops.where(allowed[None], scores, ops.cast(-1e9, scores.dtype))
        weights = ops.softmax(scores, axis=-1) * ops.cast(ops.any(allowed, axis=-1), scores.dtype)[None, :, None]
        return ops.einsum("bqn,bnd->bqd", weights, values)

    def call(self, query, key, value):
        """Maps [B, H, W, dk], [B, H, W, dk], [B, H, W, dv] -> [B, H, W, dv]."""
        _, h, w, _ = query.shape
        flat = [ops.reshape(t, (-1, h * w, t.shape[-1])) for t in (query, key, value)]
        positions = ops.arange(h * w)
        out = self._attend(*flat, positions[None, :] < positions[:, None])
        return ops.reshape(out, (-1, h, w, self.value_size))

    def empty_row_cache(self, batch, height, width, channels, dtype):
        return (ops.zeros((batch, height * width, self.key_size), dtype),
                ops.zeros((batch, height * width, self.value_size), dtype))

    def row(self, query, cache, row_in, row_out, key, value):
        keys, values = cache
        w = query.shape[2]
        keys = ops.slice_update(keys, (0, row_in * w, 0), ops.cast(ops.reshape(key, (-1, w, self.key_size)), keys.dtype))
        values = ops.slice_update(values, (0, row_in * w, 0),
                                  ops.cast(ops.reshape(value, (-1, w, self.value_size)), values.dtype))
        here = row_in * w + ops.arange(w)
        allowed = ops.arange(keys.shape[1])[None, :] < here[:, None]
        out = self._attend(ops.reshape(query, (-1, w, self.key_size)), keys, values, allowed)
        return ops.reshape(out, (-1, 1, w, self.value_size)), (keys, values)

    def get_config(self):
        return {**super().get_config(), "key_size": self.key_size, "value_size": self.value_size}
