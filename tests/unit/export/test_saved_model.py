"""The SavedModel of the families whose trained runs the suite does not export elsewhere (the transformers, PixelCNN
and the multi-scale model are exported by tests/e2e): on a 4x4 model, its bits/dim and log-likelihood are the
model's, and for a seed (and labels) it draws the cached sampler's images."""
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from helpers.models import build, enliven


@pytest.mark.parametrize("set_name,overrides", [("gated_pixelcnn_cifar10_tiny", "class_conditional=true"),
                                                ("row_lstm_cifar10_tiny", ""), ("diagonal_bilstm_cifar10_tiny", "")])
def test_saved_model_scores_and_samples_as_the_model(set_name, overrides, tmp_path):
    from imgtf.export.saved_model import export_saved_model
    from imgtf.sampling import cached_sample

    model, _ = build(set_name, overrides, image_size=4, seed=0)
    enliven(model)  # class biases and learned initial states start at zero
    images = np.random.RandomState(2).randint(0, 256, (2, 4, 4, 3)).astype(np.uint8)
    cond = {"label": np.array([3, 5], np.int32)} if model.uses_label else {}
    loaded = tf.saved_model.load(export_saved_model(model, str(tmp_path / "export"), jit_compile=False))
    log_prob = ops.convert_to_numpy(model.log_prob({"targets": images, **cond}))
    exported = loaded.signatures["log_prob"](images=images, **cond)["log_prob"].numpy()
    np.testing.assert_allclose(exported, log_prob, rtol=1e-5, atol=1e-5)
    scored = loaded.signatures["bits_per_dim"](images=images, **cond)
    bits, nats = scored["bits_per_dim"].numpy(), scored["nats_per_image"].numpy()
    np.testing.assert_allclose(bits, -log_prob.sum(axis=(1, 2, 3)) / (48 * np.log(2)), rtol=1e-5)
    np.testing.assert_allclose(nats, -log_prob.sum(axis=(1, 2, 3)), rtol=1e-5)
    sample = loaded.signatures["sample"](num_samples=tf.constant(2), temperature=tf.constant(1.0), seed=tf.constant(3),
                                         **{k: tf.constant(v) for k, v in cond.items()})["images"].numpy()
    drawn = cached_sample(model, 2, 1.0, 3, features=cond or None, jit_compile=False).numpy()
    np.testing.assert_array_equal(sample, drawn)
