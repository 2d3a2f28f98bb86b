"""hparam recompute: the same loss and gradients as keeping the activations, for every model family, with dropout."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from model_harness import build, real_features

SIZE = 8  # real 8x8 crops: recomputation does not depend on the image size


def loss_and_gradients(model, features):
    @tf.function
    def compute(features):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(model.negative_log_likelihood(features, training=True))
        return loss, tape.gradient(loss, model.trainable_weights)

    loss, grads = compute(features)
    return float(loss), [tf.convert_to_tensor(g).numpy() for g in grads]


@pytest.mark.parametrize("set_name,overrides", [
    ("imagetransformer_cifar10_tiny", "num_decoder_layers=2"),
    ("img2img_transformer_celeba_1d_tiny", "num_decoder_layers=1"),  # encoder blocks and encoder-decoder attention
    ("pixelcnn_cifar10_tiny", ""),
    ("row_lstm_cifar10_tiny", ""),  # the recurrent layers (the Diagonal BiLSTM's go through the same `body` call)
])
def test_recompute_gives_the_same_loss_and_gradients(cifar_dir, set_name, overrides):
    results = []
    for recompute in (False, True):
        keras.utils.set_random_seed(0)
        model, problem = build(set_name, f"{overrides},recompute={recompute}", image_size=SIZE)
        features = real_features(problem, cifar_dir, size=SIZE)
        model(features)
        if results:  # the same weights (the recomputing model also holds a seed generator)
            for kept, variable in zip(results[0][0].trainable_weights, model.trainable_weights):
                variable.assign(kept)
        results.append((model, *loss_and_gradients(model, features)))
    (_, loss, grads), (_, loss_recomputed, grads_recomputed) = results
    assert loss == pytest.approx(loss_recomputed, rel=1e-6)
    for g, h in zip(grads, grads_recomputed):
        np.testing.assert_allclose(h, g, rtol=1e-5, atol=1e-6)


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


def test_recompute_trains_the_paper_sets_dropout_configuration(builtins, cifar_dir, tmp_path):
    """The paper's sets: residual dropout on, attention-weight and ReLU dropout off (Keras gives a Dropout of rate 0
    no seed generator), through the trainer's compiled step."""
    from conftest import TINY_OVERRIDES
    from imgtf.train import run_dir
    from imgtf.train.trainer import Trainer

    spec = run_dir.resolve(str(tmp_path), "image_cifar10", "image_transformer", "imagetransformer_cifar10_tiny",
                           TINY_OVERRIDES + ",dropout=0.3,attention_dropout=0.0,relu_dropout=0.0,recompute=true")
    trainer = Trainer(spec, str(tmp_path), cifar_dir)
    assert trainer.train(2, log_every=1) == 2
