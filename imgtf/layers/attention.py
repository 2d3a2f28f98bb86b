"""Multi-head attention layers: causally masked self-attention for decoders (every Geometry), unmasked
self-attention for encoders, and encoder-decoder attention.

Decoder self-attention runs on the *slot layout* of its Geometry (imgtf/layers/geometry.py): [B, S, d]
with S = num_blocks * query_length. Query blocks are contiguous there, so queries are a reshape; each
block's memory is a few shifted slices (1D geometries) or one gather (2D). The mask is the Geometry's
numpy constant, so no caller can forget it.
"""
import math

import keras
import numpy as np
from keras import ops

from imgtf.layers.attention_spec import AttentionSpec
from imgtf.layers.slicing import part

_NEG_INF = -1e9


def mask_bias(mask):
    """A boolean mask as the float32 bias that hides what it masks: 0 where True, -1e9 where False (every masked
    logit's weight underflows to exactly 0, as a select of -1e9 would give, for every row with one key allowed)."""
    if isinstance(mask, np.ndarray):
        return np.where(mask, 0.0, _NEG_INF).astype("float32")
    return ops.cast(ops.where(mask, 0.0, _NEG_INF), "float32")


def kernel_initializer(gain=1.0):
    """Kernel initializer of the transformer's dense layers: Glorot uniform with its variance multiplied by `gain`
    (Tensor2Tensor's `initializer_gain`; its image models use 0.2). 1.0 is Keras's default glorot_uniform, which
    layers built before the gain existed used."""
    if gain == 1.0:
        return "glorot_uniform"
    return keras.initializers.VarianceScaling(scale=gain, mode="fan_avg", distribution="uniform")


@keras.saving.register_keras_serializable("imgtf")
class MultiHeadAttention(keras.layers.Layer):
    """Projections and scaled dot-product attention; subclasses decide which keys each query sees."""

    def __init__(self, hidden_size, num_heads, key_channels=0, attention_dropout=0.0, initializer_gain=1.0, **kwargs):
        super().__init__(**kwargs)
        key_channels = key_channels or hidden_size
        if key_channels % num_heads:
            raise ValueError(f"attention channels ({key_channels}) must be divisible by num_heads ({num_heads}).")
        self.hidden_size, self.num_heads = hidden_size, num_heads
        self.key_channels, self.attention_dropout = key_channels, attention_dropout
        self.initializer_gain = float(initializer_gain)
        self.depth = key_channels // num_heads
        dense = lambda units, name: keras.layers.Dense(  # noqa: E731
            units, use_bias=False, kernel_initializer=kernel_initializer(self.initializer_gain), name=name)
        self.q_proj, self.k_proj = dense(key_channels, "q"), dense(key_channels, "k")
        self.v_proj, self.o_proj = dense(key_channels, "v"), dense(hidden_size, "output")
        self.dropout = keras.layers.Dropout(attention_dropout)

    def build(self, input_shape):
        # keys/values come from the same stream, or from an encoder of the same width (hidden_size)
        self.q_proj.build((None, input_shape[-1]))
        self.k_proj.build((None, input_shape[-1]))
        self.v_proj.build((None, input_shape[-1]))
        self.o_proj.build((None, self.key_channels))

    def heads(self, t):
        """[..., N, key_channels] -> [..., N, heads, depth]."""
        return ops.reshape(t, (*ops.shape(t)[:-1], self.num_heads, self.depth))

    def attend(self, q, k, v, mask=None, training=False):
        """q [B, ..., Q, h, d], k/v [B, ..., K, h, d], mask broadcastable to [B, ..., h, Q, K] (True: may attend).

        Heads go before the positions so both products are plain batched matmuls on contiguous [Q, d] x [d, K] and
        [Q, K] x [K, d] blocks (einsum would transpose the [Q, K] logits' operands on every call, and its gradient
        the same again), and the mask is added as a bias of -1e9 rather than selected, whose gradient is a select
        over the logits: the logits are the largest tensor of the layer."""
        q = ops.swapaxes(q * (1.0 / math.sqrt(self.depth)), -2, -3)  # [B, ..., h, Q, d]
        k = ops.moveaxis(k, -3, -1)  # [B, ..., h, d, K]
        v = ops.swapaxes(v, -2, -3)  # [B, ..., h, K, d]
        logits = ops.cast(ops.matmul(q, k), "float32")
        if mask is not None:
            logits = logits + mask_bias(mask)
        weights = self.dropout(ops.cast(ops.softmax(logits, axis=-1), v.dtype), training=training)
        return ops.swapaxes(ops.matmul(weights, v), -2, -3)

    def get_config(self):
        return {**super().get_config(), "hidden_size": self.hidden_size, "num_heads": self.num_heads,
                "key_channels": self.key_channels, "attention_dropout": self.attention_dropout,
                "initializer_gain": self.initializer_gain}


@keras.saving.register_keras_serializable("imgtf")
class UnmaskedAttention(MultiHeadAttention):
    """Every query sees every key: encoder self-attention (memory=None) or encoder-decoder attention."""

    def memory_cache(self, memory):
        """Keys and values of an encoder output, computed once per sample: ([B, N, h, d], [B, N, h, d])."""
        return self.heads(self.k_proj(memory)), self.heads(self.v_proj(memory))

    def step(self, x, memory_cache, allowed=None):
        """One query [B, d] against cached encoder keys/values -> [B, d]; allowed [N]: the keys it may see."""
        k, v = memory_cache
        mask = None if allowed is None else ops.reshape(ops.cast(allowed, "bool"), (1, 1, 1, -1))
        out = self.attend(self.heads(self.q_proj(x))[:, None], k, v, mask)
        return self.o_proj(ops.reshape(out, (-1, self.key_channels)))

    def call(self, x, memory=None, allowed=None, training=False):
        """x [B, Q, d] attends to memory [B, N, d] (x itself if None); allowed [Q, N]: True where query q may
        see key n (None: every key), e.g. a local window of a super-resolution input."""
        memory = x if memory is None else memory
        q, k, v = self.heads(self.q_proj(x)), self.heads(self.k_proj(memory)), self.heads(self.v_proj(memory))
        mask = None if allowed is None else ops.cast(allowed, "bool")[None, None]
        out = self.attend(q, k, v, mask, training=training)
        return self.o_proj(ops.reshape(out, (*ops.shape(out)[:-2], self.key_channels)))


@keras.saving.register_keras_serializable("imgtf")
class MaskedSelfAttention(MultiHeadAttention):
    """Causally masked self-attention over a decoder's slot layout [B, S, d] (see imgtf.layers.geometry): the
    geometry of `attention` (an AttentionSpec) over the `grid` of generation units."""

    def __init__(self, hidden_size, attention=None, grid=(32, 96), initializer_gain=1.0, **kwargs):
        self.attention = AttentionSpec.coerce(attention or AttentionSpec())
        super().__init__(hidden_size, self.attention.num_heads, self.attention.key_channels, self.attention.dropout,
                         initializer_gain, **kwargs)
        self.grid = tuple(grid)
        self.geometry = self.attention.geometry(*self.grid)

    def memory_blocks(self, t):
        """[B, S, h, d] -> [B, nb, M, h, d]: the keys (or values) each query block attends to."""
        g = self.geometry
        batch = ops.shape(t)[0]
        if g.flange_blocks is not None:  # 1D: own block + flange_blocks previous ones, as shifted slices
            fb, lq = g.flange_blocks, g.query_length
            t = ops.pad(t, [[0, 0], [fb * lq, 0], [0, 0], [0, 0]])
            t = ops.reshape(t, (batch, g.num_blocks + fb, lq, self.num_heads, self.depth))
            size = (batch, g.num_blocks, lq, self.num_heads, self.depth)  # (imgtf.layers.slicing: why not indexing)
            return ops.concatenate([part(t, (0, s, 0, 0, 0), size) for s in range(fb + 1)], axis=2)
        index = np.where(g.memory >= 0, g.memory, g.num_slots).reshape(-1)  # -1 -> a zero slot at the end
        t = ops.pad(t, [[0, 0], [0, 1], [0, 0], [0, 0]])
        t = ops.take(t, ops.convert_to_tensor(index.astype("int32")), axis=1)
        return ops.reshape(t, (batch, g.num_blocks, g.memory.shape[1], self.num_heads, self.depth))

    def call(self, x, training=False):
        g = self.geometry
        batch = ops.shape(x)[0]
        q = ops.reshape(self.heads(self.q_proj(x)), (batch, g.num_blocks, g.query_length, self.num_heads, self.depth))
        k = self.memory_blocks(self.heads(self.k_proj(x)))
        v = self.memory_blocks(self.heads(self.v_proj(x)))
        out = self.attend(q, k, v, g.mask[None, :, None], training=training)  # [B, nb, lq, h, d]
        return self.o_proj(ops.reshape(out, (batch, g.num_slots, self.key_channels)))

    # -- incremental decoding: one unit at a time, keys and values cached ------------------------------
    def empty_cache(self, batch):
        """Zero keys and values for every slot plus one always-zero slot (where invalid memory points)."""
        shape = (batch, self.geometry.num_slots + 1, self.num_heads, self.depth)
        return ops.zeros(shape, self.compute_dtype), ops.zeros(shape, self.compute_dtype)

    def step(self, x, cache, slot, block, offset):
        """The unit at `slot` (query block `block`, position `offset` in it): x [B, d] -> ([B, d], cache).

        Writes this unit's key and value into the cache, then attends to its block's memory slots with the
        same mask row the full-sequence form uses, so both forms compute the same function."""
        g = self.geometry
        k_cache, v_cache = cache
        k_cache = ops.slice_update(k_cache, (0, slot, 0, 0), self.heads(self.k_proj(x))[:, None])
        v_cache = ops.slice_update(v_cache, (0, slot, 0, 0), self.heads(self.v_proj(x))[:, None])
        index = ops.take(np.where(g.memory >= 0, g.memory, g.num_slots).astype("int32"), block, axis=0)
        mask = ops.take(ops.take(g.mask, block, axis=0), offset, axis=0)  # [M]
        q = self.heads(self.q_proj(x))[:, None]  # [B, 1, h, d]
        out = self.attend(q, ops.take(k_cache, index, axis=1), ops.take(v_cache, index, axis=1), mask)
        return self.o_proj(ops.reshape(out, (-1, self.key_channels))), (k_cache, v_cache)

    def get_config(self):
        config = super().get_config()
        for key in ("num_heads", "key_channels", "attention_dropout"):  # all in the spec
            config.pop(key)
        return {**config, "attention": self.attention.get_config(), "grid": list(self.grid)}
