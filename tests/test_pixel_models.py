"""The PixelRNN paper's models: masks with colour groups, causality, normalisation, training and sampling."""
import numpy as np
import pytest
from keras import ops

from imgtf.layers.masked_conv import MaskedConv2D, conv_mask, feature_groups
from model_harness import build, change_unit, predictions, real_features


@pytest.mark.parametrize("mask_type", ["A", "B"])
def test_conv_mask_hides_the_future_and_orders_colours(mask_type):
    mask = conv_mask((5, 5), 3, 6, mask_type)
    assert mask[3:].sum() == 0 and mask[2, 3:].sum() == 0  # rows below, and right of the centre
    assert mask[:2].all() and mask[2, :2].all()  # everything before the centre
    centre = mask[2, 2]  # [in R,G,B] x [out R,R,G,G,B,B]
    expected = np.array([[0, 0, 1, 1, 1, 1], [0, 0, 0, 0, 1, 1], [0, 0, 0, 0, 0, 0]]) if mask_type == "A" else \
        np.array([[1, 1, 1, 1, 1, 1], [0, 0, 1, 1, 1, 1], [0, 0, 0, 0, 1, 1]])
    np.testing.assert_array_equal(centre, expected)
    assert list(feature_groups(8)) == [0, 0, 0, 1, 1, 1, 2, 2]


@pytest.mark.parametrize("mask_type", ["A", "B"])
def test_masked_conv_causality_per_channel(mask_type):
    """Changing input (row 2, col 3, channel c) changes outputs only at later pixels, or at that pixel in
    output groups after c (mask A) / from c on (mask B)."""
    layer = MaskedConv2D(6, 3, mask_type)
    x = np.random.RandomState(0).randn(1, 5, 6, 3).astype("float32")
    base = ops.convert_to_numpy(layer(x))
    for c in range(3):
        changed = x.copy()
        changed[0, 2, 3, c] += 1.0
        diff = np.abs(ops.convert_to_numpy(layer(changed)) - base)[0]
        flat = diff.reshape(30, 6)
        assert flat[: 2 * 6 + 3].max() == 0.0  # every earlier pixel
        first_group = c + 1 if mask_type == "A" else c
        groups = feature_groups(6)
        assert diff[2, 3, groups < first_group].max(initial=0.0) == 0.0
        if first_group < 3:
            assert diff[2, 3, groups >= first_group].max() > 0.0


PIXEL_SETS = ["pixelcnn_cifar10_tiny", "row_lstm_cifar10_tiny", "diagonal_bilstm_cifar10_tiny",
              "multiscale_pixelrnn_cifar10_tiny"]


def randomise_initial_states(model, seed=0):
    """Learned initial states start at zero; random ones show whether every path really uses them."""
    rng = np.random.RandomState(seed)
    states = [v for v in model.weights if "initial_state" in v.path]
    for variable in states:
        variable.assign(rng.randn(*variable.shape).astype("float32"))
    return states


def small_model(model_name, shape=(4, 6, 3), overrides="", num_levels=256):
    from imgtf import catalog, registry

    catalog.load_builtins()
    hp = registry.hparams(f"{model_name}_cifar10_tiny")
    hp.parse(overrides)
    info = {"image_shape": list(shape), "num_classes": None, "input_shape": None}
    if num_levels != 256:
        info["num_levels"] = num_levels
    model = registry.model(model_name)(hp, info)
    model({"targets": np.zeros((1, *shape), np.uint8)})
    return model


@pytest.mark.parametrize("hparams_set", PIXEL_SETS)
def test_causality_over_sub_pixels(cifar_dir, hparams_set):
    """Steps in generation order: raster for the single-scale models; for the multi-scale model the 16x16
    subsample's 768 sub-pixels come first, so steps 767 and 768 cross from one network to the other."""
    model, problem = build(hparams_set)
    features = real_features(problem, cifar_dir)
    base = predictions(model, features)
    length = base.shape[1]
    for step in [0, 1, 2, 3, 95, 96, 97, 767, 768, 1500, length - 2]:
        diff = np.abs(predictions(model, dict(features, targets=change_unit(model, features["targets"], step)))
                      - base).max(axis=(0, 2))
        assert diff[: step + 1].max() <= 1e-5, f"sub-pixel {step} leaked"
        # receptive fields are finite (PixelCNN's next row cannot see this row's last pixel), so ask only
        # that some later prediction depends on it
        assert diff[step + 1:].max() > 1e-5, f"no prediction after sub-pixel {step} depends on it"


@pytest.mark.parametrize("model_name", ["pixelcnn", "row_lstm", "diagonal_bilstm", "multiscale_pixelrnn"])
def test_cached_sampling_equals_naive(model_name):
    """The incremental samplers (row by row, pixel by pixel with carried states, small image then large) draw
    exactly the images of re-running the whole model for every sub-pixel."""
    from imgtf.sampling import cached_sample, naive_sample

    model = small_model(model_name)
    randomise_initial_states(model)
    np.testing.assert_array_equal(cached_sample(model, 2, 1.0, 3).numpy(), naive_sample(model, 2, 1.0, 3).numpy())


def teacher_forced_logits(model, images):
    """Every step's logits from the sampler's incremental `step`, fed the real image's values: [B, L, 256]."""
    import tensorflow as tf

    units = images.reshape(len(images), -1).astype(np.int32)  # raster sub-pixels
    step = tf.function(model.step)
    cache, previous, logits = model.empty_cache(None, len(images)), np.zeros(len(images), np.int32), []
    for t in range(model.num_units):
        params, cache = step(cache, tf.constant(previous), tf.constant(t), None)
        logits.append(params.numpy())
        previous = units[:, model.geometry.order[t]]
    return np.stack(logits, axis=1)


@pytest.mark.parametrize("model_name,overrides", [
    *[(name, "") for name in ("pixelcnn", "row_lstm", "diagonal_bilstm", "multiscale_pixelrnn")],  # residual + skips
    *[(name, "residual_connections=false,skip_connections=false") for name in ("pixelcnn", "row_lstm", "diagonal_bilstm")],
])
def test_incremental_steps_equal_the_full_model(model_name, overrides):
    """A stronger check than equal samples (a small error rarely changes a draw): at every one of the 72 steps of
    a 4x6 image, the sampler's step computes the full model's logits for that sub-pixel, with and without the
    paper's residual and skip connections, from random learned initial states."""
    model = small_model(model_name, overrides=overrides)
    randomise_initial_states(model)
    images = np.random.RandomState(4).randint(0, 256, (2, 4, 6, 3)).astype(np.uint8)
    full = ops.convert_to_numpy(model({"targets": images})).reshape(2, -1, 256)[:, model.geometry.order]
    np.testing.assert_allclose(teacher_forced_logits(model, images), full, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("model_name", ["pixelcnn", "row_lstm", "diagonal_bilstm"])
def test_skip_connections_reach_the_output_from_every_layer(model_name):
    """With skip connections the output layers read sum_l skip_l(x_l): zero every skip projection but the last
    layer's, make that one the identity, and the model computes exactly what it computes without skips."""
    import keras

    plain = small_model(model_name, overrides="skip_connections=false")
    skipped = small_model(model_name, overrides="skip_connections=true")
    assert len(skipped.skips) == skipped.hparams.num_layers and not plain.skips
    by_path = {v.path.split("/", 1)[1]: v for v in plain.weights}
    for variable in skipped.weights:
        name = variable.path.split("/", 1)[1]
        if name in by_path:
            variable.assign(by_path[name])
    for skip in skipped.skips:
        skip.kernel.assign(np.zeros(skip.kernel.shape, "float32"))
        skip.bias.assign(np.zeros(skip.bias.shape, "float32"))
    last = skipped.skips[-1]
    last.kernel.assign(np.eye(last.kernel.shape[-1], dtype="float32")[None, None])
    images = {"targets": np.random.RandomState(2).randint(0, 256, (2, 4, 6, 3)).astype(np.uint8)}
    expected = ops.convert_to_numpy(plain(images))
    np.testing.assert_allclose(ops.convert_to_numpy(skipped(images)), expected, rtol=1e-5, atol=1e-5)
    last.kernel.assign(np.zeros(last.kernel.shape, "float32"))  # now only the zeroed skips reach the output
    skipped.skips[0].kernel.assign(keras.random.normal(skipped.skips[0].kernel.shape, seed=1))
    assert np.abs(ops.convert_to_numpy(skipped(images)) - expected).max() > 1e-3


@pytest.mark.parametrize("model_name", ["row_lstm", "diagonal_bilstm"])
def test_learned_initial_state_reaches_the_first_pixel(model_name):
    """The first pixel's R has no context: what the LSTMs predict for it comes from their initial state."""
    model = small_model(model_name)
    images = {"targets": np.random.RandomState(3).randint(0, 256, (1, 4, 6, 3)).astype(np.uint8)}
    before = ops.convert_to_numpy(model(images))[0, 0, 0, 0]
    states = randomise_initial_states(model)
    assert len(states) == 2 * model.hparams.num_layers * (2 if model_name == "diagonal_bilstm" else 1)
    assert np.abs(ops.convert_to_numpy(model(images))[0, 0, 0, 0] - before).max() > 1e-3
    assert not [v for v in small_model(model_name, overrides="learn_initial_state=false").weights
                if "initial_state" in v.path]


def receptive_field(model_name, source, target, shape=(4, 16, 3)):
    """Does the prediction of pixel `target` depend on pixel `source`? (Signals through 15 untrained LSTM
    steps fall to ~1e-7, so any change counts; an independent prediction is computed bit for bit the same.)"""
    model = small_model(model_name, shape)
    images = np.random.RandomState(0).randint(0, 256, (1, *shape)).astype(np.uint8)
    changed = images.copy()
    changed[0][source] = 255 - changed[0][source]
    diff = np.abs(ops.convert_to_numpy(model({"targets": changed})) - ops.convert_to_numpy(model({"targets": images})))
    return diff[0][target].max() > 0.0


def test_row_lstm_sees_the_whole_triangle_above():
    """Through its recurrence over rows, a pixel depends on pixels far above it (not just a 3x3 cone)."""
    assert receptive_field("row_lstm", (0, 6), (11, 6), shape=(12, 12, 3))  # beyond any 3x3 stack this shallow


@pytest.mark.parametrize("source,target", [((0, 15), (3, 0)),  # far above-right: the right-to-left direction
                                           ((3, 0), (3, 15)),  # far left in the same row: the left direction
                                           ((2, 15), (3, 0))])  # the previous row's far end
def test_diagonal_bilstm_sees_the_whole_context_where_row_lstm_cannot(source, target):
    assert receptive_field("diagonal_bilstm", source, target)
    assert not receptive_field("row_lstm", source, target)  # outside the Row LSTM's triangle


def test_multiscale_likelihood_is_small_image_then_conditional():
    """log p(x) splits exactly into the unconditional network's log p(x[::2, ::2]) and the conditional
    network's terms, and the small image biases the conditional network: a pixel sees subsampled pixels
    that come after it in raster order."""
    model = small_model("multiscale_pixelrnn", (8, 8, 3))
    images = np.random.RandomState(1).randint(0, 256, (2, 8, 8, 3)).astype(np.uint8)
    log_prob = ops.convert_to_numpy(model.log_prob({"targets": images}))
    small = ops.convert_to_numpy(model.unconditional.log_prob({"targets": images[:, ::2, ::2]}))
    np.testing.assert_allclose(log_prob[:, ::2, ::2], small, rtol=1e-5)
    changed = images.copy()
    changed[:, 2, 2] = 255 - changed[:, 2, 2]  # a subsampled pixel: generated before every conditional unit
    moved = np.abs(ops.convert_to_numpy(model.log_prob({"targets": changed})) - log_prob)
    assert moved[:, 0, 1].max() > 0.0  # the first conditional pixel, two rows above the change
    assert model.num_units == 8 * 8 * 3 and list(model.geometry.order[:3]) == [0, 1, 2]
    assert list(model.geometry.order[3:6]) == [6, 7, 8]  # pixel (0, 2): the small image's second pixel


@pytest.mark.parametrize("model_name,hparams_set", [(name.rsplit("_cifar10", 1)[0], name) for name in PIXEL_SETS
                                                    if not name.startswith("multiscale")])  # its own test below
def test_trains_evaluates_and_exports_by_name(builtins, cifar_dir, tmp_path, model_name, hparams_set):
    import tensorflow as tf

    from imgtf.export.saved_model import export_saved_model
    from imgtf.sampling import cached_sample
    from imgtf.train import run_dir
    from imgtf.train.trainer import Trainer

    spec = run_dir.resolve(str(tmp_path / "run"), "image_cifar10", model_name, hparams_set, "batch_size=4,eval_batch_size=4")
    trainer = Trainer(spec, str(tmp_path / "run"), cifar_dir)
    assert trainer.train(2, log_every=1) == 2
    entry = trainer.evaluate("test", eval_steps=2)
    assert entry["num_images"] == 8 and 5.0 < entry["bits_per_dim"] < 9.0
    loaded = tf.saved_model.load(export_saved_model(trainer.model, str(tmp_path / "export")))
    batch = next(iter(trainer.problem.dataset("test", cifar_dir, 8)))
    exported = loaded.signatures["bits_per_dim"](images=batch["targets"])["bits_per_dim"].numpy()
    assert np.mean(exported) == pytest.approx(entry["bits_per_dim"], rel=1e-5)
    sample = loaded.signatures["sample"](num_samples=tf.constant(1), temperature=tf.constant(1.0),
                                         seed=tf.constant(3))["images"].numpy()
    np.testing.assert_array_equal(sample, cached_sample(trainer.model, 1, 1.0, 3).numpy())


def test_commands_by_name_for_the_multiscale_model(cifar_dir, tmp_path):
    """imgtf-trainer, imgtf-decoder (completion: its order puts the subsampled pixels first, yet the kept top
    half stays exactly the original's) and imgtf-exporter, by name, for the model with the unusual order; the
    export's bits/dim equal the trainer's evaluation and its samples are those of the cached sampler."""
    import subprocess
    import sys

    import keras
    import tensorflow as tf

    from conftest import REPO
    from imgtf.train.metrics import read_metrics

    def cli(command, *args):
        result = subprocess.run([sys.executable, "-m", f"imgtf.commands.{command}", *args], capture_output=True,
                                text=True, timeout=600, cwd=REPO)
        assert result.returncode == 0, result.stderr[-3000:]
        return result

    run = tmp_path / "run"
    cli("trainer", "--problem=image_cifar10", "--model=multiscale_pixelrnn",
        "--hparams_set=multiscale_pixelrnn_cifar10_tiny", "--hparams=batch_size=4,eval_batch_size=4", "--train_steps=2",
        "--eval_steps=1", f"--output_dir={run}", f"--data_dir={cifar_dir}")
    cli("decoder", f"--output_dir={run}", f"--data_dir={cifar_dir}", f"--decode_dir={tmp_path / 'd'}",
        "--mode=completion", "--num_samples=1", "--samples_per_input=2")
    samples, originals = np.load(tmp_path / "d" / "samples.npy"), np.load(tmp_path / "d" / "originals.npy")
    np.testing.assert_array_equal(samples[:, :, :16], np.repeat(originals[:, None, :16], 2, axis=1))
    assert not np.array_equal(samples[0, 0, 16:], samples[0, 1, 16:])  # the bottom half is sampled
    cli("exporter", f"--output_dir={run}", f"--export_dir={tmp_path / 'export'}")
    loaded = tf.saved_model.load(str(tmp_path / "export" / "saved_model"))
    evaluated = read_metrics(str(run))[-1]  # --eval_steps=1 at batch 4: the first 4 test images
    assert evaluated["num_images"] == 4
    images = real_features(build("multiscale_pixelrnn_cifar10_tiny")[1], cifar_dir, n=4)["targets"]
    exported = loaded.signatures["bits_per_dim"](images=tf.constant(images))["bits_per_dim"].numpy()
    assert np.mean(exported) == pytest.approx(evaluated["bits_per_dim"], rel=1e-5)
    args = dict(num_samples=tf.constant(1), temperature=tf.constant(1.0), seed=tf.constant(3))
    sample, again = (loaded.signatures["sample"](**args)["images"].numpy() for _ in range(2))
    # the same seed, the same image (that the export draws the decoder's images is tested in test_decode_export)
    assert sample.shape == (1, 32, 32, 3) and np.array_equal(sample, again)
    assert keras.saving.load_model(str(tmp_path / "export" / "model.keras")).num_units == 3072


# binary images (num_levels=2) for two of the models, 8-bit for the others: both level counts for C = 1 without
# doubling the matrix (the layers do not depend on the levels; only the input scaling and the output width do)
@pytest.mark.parametrize("model_name,num_levels", [("pixelcnn", 2), ("row_lstm", 256), ("diagonal_bilstm", 2),
                                                   ("multiscale_pixelrnn", 256)])
def test_grayscale_steps_equal_the_full_model_and_cached_sampling_equals_naive(model_name, num_levels):
    """One channel (C = 1): the distributions are normalised over the levels, no prediction sees its own or a later
    pixel (the masks' three colour groups let a grayscale pixel reach its own prediction before), every incremental
    step computes the full model's logits for its sub-pixel, and the cached sampler draws the naive sampler's images
    (the steps assumed three channels before)."""
    from imgtf.sampling import cached_sample, naive_sample

    model = small_model(model_name, shape=(4, 6, 1), num_levels=num_levels)
    randomise_initial_states(model)
    images = np.random.RandomState(5).randint(0, num_levels, (2, 4, 6, 1)).astype(np.uint8)
    base = predictions(model, {"targets": images})
    assert base.shape[-1] == num_levels
    np.testing.assert_allclose(np.exp(base).sum(-1), 1.0, atol=1e-5)
    for step in (0, 5, 13, 22):
        changed = predictions(model, {"targets": change_unit(model, images, step)})
        assert np.abs(changed - base).max(axis=(0, 2))[: step + 1].max() <= 1e-5, f"pixel {step} leaked"
    full = ops.convert_to_numpy(model({"targets": images})).reshape(2, -1, num_levels)[:, model.geometry.order]
    np.testing.assert_allclose(teacher_forced_logits(model, images), full, rtol=1e-4, atol=1e-4)
    samples = cached_sample(model, 2, 1.0, 3).numpy()
    assert samples.shape == (2, 4, 6, 1) and samples.max() < num_levels
    np.testing.assert_array_equal(samples, naive_sample(model, 2, 1.0, 3).numpy())


def test_mask_a_hides_a_grayscale_pixel_from_itself():
    """With one group per image channel, the first layer's centre tap of a 1-channel image is closed for every output;
    three colour groups (the earlier behaviour for any image) opened it to two thirds of the features: a leak."""
    from imgtf.layers.masked_conv import conv_mask

    assert conv_mask((7, 7), 1, 48, "A", groups=1)[3, 3].sum() == 0
    assert conv_mask((7, 7), 1, 48, "A", groups=3)[3, 3].sum() == 32
    np.testing.assert_array_equal(conv_mask((3, 3), 48, 48, "B", groups=1)[1, 1], np.ones((48, 48)))
