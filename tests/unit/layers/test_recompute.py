"""Recomputed layers (hparam recompute) draw the forward pass's dropout masks again in the backward pass. (Equal
losses and gradients with and without recomputation, for every set that has the hparam, are in the harness.)"""
import keras
import numpy as np
import tensorflow as tf


def test_recomputed_dropout_draws_the_forward_pass_masks():
    """A decoder block with residual and ReLU dropout: recomputed, its gradients are those of the same
    call without recomputation under the same seed (and another seed gives other gradients: the masks are in play)."""
    from imgtf.layers.attention_spec import AttentionSpec
    from imgtf.layers.recompute import _seeded
    from imgtf.layers.transformer import DecoderBlock

    keras.utils.set_random_seed(1)
    # residual and ReLU dropout; attention-weight dropout 0 (as in the paper's sets: Keras gives it no seed generator)
    block = DecoderBlock(16, 32, AttentionSpec(num_heads=2, dropout=0.0, query_block_length=8, memory_length=16),
                         grid=(4, 12), dropout=0.3, relu_dropout=0.2)
    x = tf.constant(np.random.RandomState(0).randn(2, 48, 16).astype("float32"))
    block(x)
    def gradients(wrap, seed=(3, 4)):
        def forward(x):
            with _seeded(block, tf.constant(seed, "int32")):
                return block(x, training=True)

        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.sin(wrap(forward)(x)))
        return [g.numpy() for g in tape.gradient(loss, block.trainable_weights)]

    kept, recomputed = gradients(lambda f: f), gradients(keras.remat)
    for g, h in zip(kept, recomputed):
        np.testing.assert_allclose(h, g, rtol=1e-5, atol=1e-6)
    other = gradients(keras.remat, seed=(5, 6))
    assert max(np.abs(g - h).max() for g, h in zip(kept, other)) > 1e-3
