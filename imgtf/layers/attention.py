"""Masked multi-head self-attention over a flattened image, with one blocked kernel for every decoder type.

The sequence (length L, the image in generation order) is cut into query blocks of `query_length`; each
block attends to itself and to the `memory_length - query_length` positions before it (the "flange").
All blocks run in parallel as a few batched matrix products. One masking rule serves every type:

    query at position i may attend key at position m  iff  i - flange_of_block(i) <= m <= i  and  m >= 0

  local_1d : query_length = l_q, memory = l_q + flange              (paper 3.3, 1D local)
  global   : one block covering the whole sequence, no flange       (full causal attention; the reference)

The mask is a numpy constant built once per shape, so causality does not depend on call sites.
"""
import math

import keras
import numpy as np
from keras import ops

ATTENTION_TYPES = ("local_1d", "global")
_NEG_INF = -1e9


def block_geometry(length, query_length, memory_length):
    """(query_length, flange, num_blocks, flange_blocks) after validation."""
    if query_length <= 0 or memory_length < query_length:
        raise ValueError(
            f"need 0 < query_block_length <= memory_length; got query_block_length={query_length}, "
            f"memory_length={memory_length}.")
    query_length = min(query_length, length)
    flange = min(memory_length - query_length, length)
    num_blocks = -(-length // query_length)
    flange_blocks = -(-flange // query_length)
    return query_length, flange, num_blocks, flange_blocks


def local_1d_mask(length, query_length, memory_length):
    """Boolean [num_blocks, query_length, (flange_blocks+1)*query_length]: True where attention is allowed."""
    lq, flange, nb, fb = block_geometry(length, query_length, memory_length)
    window = (fb + 1) * lq
    block_start = np.arange(nb)[:, None, None] * lq
    i = block_start + np.arange(lq)[None, :, None]  # query positions
    m = block_start - fb * lq + np.arange(window)[None, None, :]  # key positions
    return (m >= 0) & (m <= i) & (m >= block_start - flange)


@keras.saving.register_keras_serializable("imgtf")
class MaskedSelfAttention(keras.layers.Layer):
    """Causally masked multi-head self-attention over [B, L, d] in generation order."""

    def __init__(self, hidden_size, num_heads, attention_type="local_1d", query_block_length=256,
                 memory_length=512, key_channels=0, attention_dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        if attention_type not in ATTENTION_TYPES:
            raise ValueError(f"attention_type must be one of {ATTENTION_TYPES}, not {attention_type!r}.")
        key_channels = key_channels or hidden_size
        if key_channels % num_heads:
            raise ValueError(f"attention channels ({key_channels}) must be divisible by num_heads ({num_heads}).")
        self.hidden_size, self.num_heads, self.attention_type = hidden_size, num_heads, attention_type
        self.query_block_length, self.memory_length = query_block_length, memory_length
        self.key_channels, self.attention_dropout = key_channels, attention_dropout
        self.depth = key_channels // num_heads
        self.q_proj = keras.layers.Dense(key_channels, use_bias=False, name="q")
        self.k_proj = keras.layers.Dense(key_channels, use_bias=False, name="k")
        self.v_proj = keras.layers.Dense(key_channels, use_bias=False, name="v")
        self.o_proj = keras.layers.Dense(hidden_size, use_bias=False, name="output")
        self.dropout = keras.layers.Dropout(attention_dropout)

    def blocks(self, length):
        """(query_length, memory_length) actually used for a sequence of `length`."""
        if self.attention_type == "global":
            return length, length
        return self.query_block_length, self.memory_length

    def build(self, input_shape):
        for proj, size in ((self.q_proj, input_shape[-1]), (self.k_proj, input_shape[-1]),
                           (self.v_proj, input_shape[-1]), (self.o_proj, self.key_channels)):
            proj.build((None, size))

    def call(self, x, training=False):
        batch, length = ops.shape(x)[0], x.shape[1]
        lq, lm = self.blocks(length)
        lq, flange, nb, fb = block_geometry(length, lq, lm)
        heads, depth = self.num_heads, self.depth
        padded = nb * lq

        def split(t, front):  # [B, L, A] -> [B, front/lq + nb, lq, heads, depth], zero-padded
            t = ops.pad(t, [[0, 0], [front, padded - length], [0, 0]])
            return ops.reshape(t, (batch, (front + padded) // lq, lq, heads, depth))

        q = split(self.q_proj(x), 0) * (1.0 / math.sqrt(depth))
        k, v = split(self.k_proj(x), fb * lq), split(self.v_proj(x), fb * lq)
        if fb:  # memory of block j = flange blocks j..j+fb (shifted slices: no gather, cheap gradient)
            k = ops.concatenate([k[:, s:s + nb] for s in range(fb + 1)], axis=2)
            v = ops.concatenate([v[:, s:s + nb] for s in range(fb + 1)], axis=2)
        logits = ops.einsum("bnqhd,bnkhd->bnhqk", q, k)
        mask = local_1d_mask(length, lq, lm)[None, :, None]  # [1, nb, 1, lq, window]
        logits = ops.where(mask, ops.cast(logits, "float32"), _NEG_INF)
        weights = ops.cast(ops.softmax(logits, axis=-1), v.dtype)
        weights = self.dropout(weights, training=training)
        out = ops.einsum("bnhqk,bnkhd->bnqhd", weights, v)
        out = ops.reshape(out, (batch, padded, self.key_channels))[:, :length]
        return self.o_proj(out)

    def get_config(self):
        return {**super().get_config(), "hidden_size": self.hidden_size, "num_heads": self.num_heads,
                "attention_type": self.attention_type, "query_block_length": self.query_block_length,
                "memory_length": self.memory_length, "key_channels": self.key_channels,
                "attention_dropout": self.attention_dropout}
