"""Every model configuration: causality, conditioning, normalisation, save/reload, overfitting real images."""
import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from imgtf import catalog, registry
from model_harness import build, change_unit, predictions, real_features

# A micro configuration on 12x12 crops of real images so the full matrix runs in seconds. The blocks do not
# tile the grids (12x36 sub-pixels, 12x12 pixels): several blocks per image, padding included.
MICRO = ("hidden_size=16,filter_size=32,num_heads=2,num_decoder_layers=1,attention_key_channels=0,"
         "query_block_length=40,memory_length=80,query_shape=[4,8],memory_flange=[2,4],num_mixtures=3")
MICRO_SIZE = 12
FIT_SIZE = 16  # the overfitting check: real 16x16 crops
FIT_SMALLER = {"num_decoder_layers": 1, "num_resolutions": 2, "num_blocks": 1}  # keys a tiny set may have

CONDITIONING = {  # hparams set providing the structure, extra overrides
    "none": ("imagetransformer_cifar10_tiny", ""),
    "class": ("imagetransformer_cifar10_cond_tiny", ""),
    "low_res": ("img2img_transformer_celeba_1d_tiny", ",num_encoder_layers=1"),
}


@pytest.mark.parametrize("conditioning", list(CONDITIONING))
@pytest.mark.parametrize("likelihood", ["categorical", "dmol"])
@pytest.mark.parametrize("attention_type", ["local_1d", "local_2d", "global"])
def test_causality_and_conditioning(cifar_dir, attention_type, likelihood, conditioning):
    set_name, extra = CONDITIONING[conditioning]
    model, problem = build(set_name, f"{MICRO},attention_type={attention_type},likelihood={likelihood}{extra}",
                           image_size=MICRO_SIZE)
    features = real_features(problem, cifar_dir, size=MICRO_SIZE)
    base = predictions(model, features)
    length, lq = base.shape[1], model.geometry.query_length
    channels = [0, 2] if likelihood == "dmol" else [0]
    for step in sorted({s for s in (0, 1, lq - 1, lq, lq + 1, length // 2, length - 2, length - 1) if s < length}):
        for channel in channels:
            changed = dict(features, targets=change_unit(model, features["targets"], step, channel))
            diff = np.abs(predictions(model, changed) - base).max(axis=0)  # [L, units]
            assert diff[:step].max(initial=0) <= 1e-5, f"step {step} leaked into earlier predictions"
            seen = (channel + 1) * 256  # a pixel's channels <= the changed one are predicted before it
            assert diff[step, :seen].max() <= 1e-5, f"step {step} channel {channel} leaked into itself"
            later = diff[step, seen:] if seen < diff.shape[1] else diff[step + 1] if step + 1 < length else None
            if later is not None:
                assert later.max() > 1e-4, f"prediction after step {step} ignores it"
    if conditioning == "class":
        # the class embedding starts at zero (the model starts as the unconditional one): give it trained-like values
        table = model.class_embedding.embeddings
        table.assign(np.random.default_rng(0).normal(0.0, 0.5, table.shape).astype("float32"))
        base = predictions(model, features)
        other = dict(features, label=(features["label"] + 1) % 10)
        assert np.abs(predictions(model, other) - base).max(axis=(0, 2))[0] > 1e-4  # even the first unit
    if conditioning == "low_res":
        other = dict(features, inputs=255 - features["inputs"])
        assert np.abs(predictions(model, other) - base).max(axis=(0, 2))[0] > 1e-4


def tiny_sets():
    """Every registered _tiny set, but one of each distinct (model, hparams): the harness builds each set on a
    CIFAR-sized problem of its kind, so two sets equal in both (an ImageNet set and its CIFAR-10 twin) are the
    same model and testing the second adds only time."""
    from model_harness import model_and_problem

    catalog.load_builtins()
    names, seen = [], set()
    for name in registry.hparams_sets.names():
        if name.endswith("_tiny"):
            key = (model_and_problem(name)[0], repr(sorted(registry.hparams(name).values().items())))
            if key not in seen:
                seen.add(key)
                names.append(name)
    return names


@pytest.mark.parametrize("set_name", tiny_sets())
def test_distributions_are_normalised(cifar_dir, set_name):
    model, problem = build(set_name)
    features = real_features(problem, cifar_dir)
    params = model(features)
    dist = ops.convert_to_numpy(model.likelihood.channel_distributions(params, features["targets"]))
    np.testing.assert_allclose(np.exp(dist).sum(-1), 1.0, atol=1e-4)
    # log_prob is the chosen value's entry of those distributions (the chain rule, for DMOL)
    log_prob = ops.convert_to_numpy(model.log_prob(features))
    chosen = np.take_along_axis(dist, features["targets"][..., None].astype(int), axis=-1)[..., 0]
    np.testing.assert_allclose(log_prob, chosen, atol=1e-4)


@pytest.mark.parametrize("set_name", tiny_sets())
def test_keras_save_and_reload_identical(cifar_dir, set_name, tmp_path):
    model, problem = build(set_name)
    features = real_features(problem, cifar_dir)
    expected = ops.convert_to_numpy(model(features))
    path = str(tmp_path / f"{set_name}.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    assert type(restored) is type(model) and restored.hparams == model.hparams
    np.testing.assert_array_equal(ops.convert_to_numpy(restored(features)), expected)


@pytest.mark.parametrize("set_name", tiny_sets())
def test_tiny_set_overfits_a_fixed_batch_of_real_images(cifar_dir, set_name):
    keras.utils.set_random_seed(0)

    # one transformer layer (PixelCNN++: two resolutions, PixelSNAIL: one block) is enough to overfit; the (cheap)
    # tiny PixelCNNs keep their layers
    hp = registry.hparams(set_name)
    smaller = [f"{key}={value}" for key, value in FIT_SMALLER.items() if key in hp]
    model, problem = build(set_name, ",".join(smaller), image_size=FIT_SIZE)
    features = real_features(problem, cifar_dir, n=2, split="train", size=FIT_SIZE)
    # through Keras's own compile/fit: every family trains with its default loss (the negative log-likelihood)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    history = model.fit(tf.data.Dataset.from_tensors(features).repeat(), steps_per_epoch=1, epochs=40, verbose=0)
    losses = history.history["bits_per_dim"]  # one step per epoch: each step's bits/dim before its update
    assert len(losses) == 40 and np.allclose(np.array(history.history["loss"]) / np.log(2), losses)
    assert losses[-1] < losses[0] - 1.0, f"bits/dim {losses[0]:.2f} -> {losses[-1]:.2f}"


def test_conditioning_needs_the_feature(builtins):
    with pytest.raises(ValueError, match="needs an image-to-image problem"):
        builtins.model("img2img_transformer")(builtins.hparams("img2img_transformer_celeba_1d_tiny"),
                                              builtins.problem("image_cifar10").info)
    problem_without_labels = {"image_shape": [32, 32, 3], "num_classes": None, "input_shape": None}
    with pytest.raises(ValueError, match="needs a problem with labels"):
        builtins.model("image_transformer")(builtins.hparams("imagetransformer_cifar10_cond_tiny"), problem_without_labels)


@pytest.mark.parametrize("attention_type", ["local_1d", "local_2d"])
def test_super_resolution_window_reads_the_input_under_each_unit(attention_type):
    """encoder_decoder_window=0: every target sub-pixel attends to exactly the three input units (channels) of the
    low-resolution pixel it lies in, in the slot layout the layers run on; window 1 adds the neighbouring pixels."""
    model, _ = build("img2img_transformer_celeba_1d_tiny", f"{MICRO},attention_type={attention_type},"
                     "encoder_decoder_window=0", image_size=MICRO_SIZE)
    g, size, low = model.geometry, MICRO_SIZE, MICRO_SIZE // 4
    real = g.slots >= 0
    raster = g.order[g.slots[real]]  # sub-pixel index in the [12, 36] grid
    pixel = (raster // (3 * size) // 4) * low + raster % (3 * size) // 3 // 4  # the input pixel under it
    allowed = model.encoder_allowed[real].reshape(-1, low * low, 3)
    assert allowed.all(axis=2).sum(axis=1).tolist() == [1] * real.sum()
    assert np.array_equal(allowed.all(axis=2).argmax(axis=1), pixel)
    assert not (allowed.any(axis=2) & ~allowed.all(axis=2)).any()
    wider, _ = build("img2img_transformer_celeba_1d_tiny", f"{MICRO},attention_type={attention_type},"
                     "encoder_decoder_window=1", image_size=MICRO_SIZE)
    corner = wider.encoder_allowed[real][raster == 0].reshape(low, low, 3)  # the top-left unit sees 2x2 pixels
    assert corner.all(axis=2).sum() == 4 and corner[:2, :2].all()


@pytest.mark.parametrize("attention_type", ["local_1d", "local_2d"])
def test_super_resolution_decoder_inputs_carry_the_input_at_each_target(attention_type):
    """decoder_input_conditioning: the encoder output added to the decoder input of generation step t comes from
    the low-resolution pixel under the target unit, same channel ("nearest"), or is the bilinear mix of the 2x2
    pixels around it (weights summing to one; clamped at the border)."""
    encoded = np.random.default_rng(0).normal(size=(2, (MICRO_SIZE // 4) ** 2 * 3, 16)).astype("float32")
    size, low = MICRO_SIZE, MICRO_SIZE // 4
    for mode in ("nearest", "bilinear"):
        model, _ = build("img2img_transformer_celeba_1d_tiny", f"{MICRO},attention_type={attention_type},"
                         f"decoder_input_conditioning={mode}", image_size=MICRO_SIZE)
        added = ops.convert_to_numpy(model.conditioning_inputs(encoded))
        raster = model.geometry.order  # sub-pixel index in the [12, 36] grid at each generation step
        row, col = raster // (3 * size), raster % (3 * size)
        rows, cols = model.upsampling_matrices()
        assert np.allclose(rows.sum(axis=1), 1) and np.allclose(cols.sum(axis=1), 1)
        mixed = np.einsum("Hh,Ww,bhwcd->bHWcd", rows, cols, encoded.reshape(2, low, low, 3, 16))
        assert np.allclose(added, mixed[:, row, col // 3, col % 3], atol=1e-5)
        if mode == "nearest":
            unit = (row // 4) * low * 3 + (col // 3 // 4) * 3 + col % 3
            assert np.array_equal(added, encoded[:, unit])
        else:  # a target pixel between two input pixels mixes them; one at the border is its input pixel's own
            assert np.allclose(rows[0], [1, 0, 0]) and np.allclose(rows[4], [0.375, 0.625, 0])


def test_class_conditional_model_starts_as_the_unconditional_one(cifar_dir):
    """Its class embedding starts at zero and draws no random numbers: from the same seed, the untrained
    class-conditional model computes exactly what the unconditional one does (paper 5.2: it must be no worse)."""
    outputs = []
    for set_name in ("imagetransformer_cifar10_tiny", "imagetransformer_cifar10_cond_tiny"):
        keras.utils.set_random_seed(0)
        model, problem = build(set_name, MICRO, image_size=MICRO_SIZE)
        outputs.append(predictions(model, real_features(problem, cifar_dir, size=MICRO_SIZE)))
    np.testing.assert_array_equal(outputs[0], outputs[1])
