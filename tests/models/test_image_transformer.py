"""The Image Transformer family beyond the harness (tests/models/test_every_tiny_set.py): every attention type with
every likelihood and conditioning (causal and cached = naive sampling, for every pair of them), blocks that do not tile the image, completions,
the parallel likelihood against one position at a time, one-channel, binary and non-square images, the
super-resolution model's use of its input, and the class-conditional model's start."""
import keras
import numpy as np
import pytest
from keras import ops

from helpers.models import (assert_causal, build, change_unit, dtype_policy, enliven, predictions, real_features,
                            teacher_forced_params)
from imgtf import catalog, registry
from imgtf.sampling import cached_sample, naive_sample

# A micro configuration on 12x12 crops of real images: the blocks do not tile the grids (12x36 sub-pixels, 12x12
# pixels), so there are several blocks per image, padding included.
MICRO = ("hidden_size=16,filter_size=32,num_heads=2,num_decoder_layers=1,attention_key_channels=0,"
         "query_block_length=40,memory_length=80,query_shape=[4,8],memory_flange=[2,4],num_mixtures=3")
MICRO_SIZE = 12
CONDITIONING = {  # hparams set providing the structure, extra overrides
    "none": ("imagetransformer_cifar10_tiny", ""),
    "class": ("imagetransformer_cifar10_cond_tiny", ""),
    "low_res": ("img2img_transformer_celeba_1d_tiny", ",num_encoder_layers=1"),
}
ATTENTION_TYPES = ["local_1d", "local_2d", "global"]


# Every pair of settings at least once (9 cases, not the 18 of the full product): each attention type with each
# conditioning, and each of those with both likelihoods. The masks are per attention type and per unit (the
# likelihood's: a sub-pixel or a pixel), which every pair of the two meets; the conditioning enters through the
# first position and the encoder, whatever the mask.
PAIRWISE = [(attention, ["categorical", "dmol"][(i + j) % 2], conditioning)
            for i, attention in enumerate(ATTENTION_TYPES) for j, conditioning in enumerate(CONDITIONING)]


@pytest.mark.parametrize("attention_type,likelihood,conditioning", PAIRWISE)
def test_causal_for_every_pair_of_attention_type_likelihood_and_conditioning(cifar_dir, attention_type, likelihood,
                                                                             conditioning):
    """On a 12x12 real crop, the units at and around block boundaries, the middle and the end (every unit of every
    tiny set is checked by the harness); the conditioning (label, low-resolution input) reaches even the first unit."""
    set_name, extra = CONDITIONING[conditioning]
    model, problem = build(set_name, f"{MICRO},attention_type={attention_type},likelihood={likelihood}{extra}",
                           image_size=MICRO_SIZE, seed=0, dtype="float64")  # float64: see test_every_tiny_set.tiny
    enliven(model)  # the class embedding starts at zero: give it trained-like values
    features = real_features(problem, cifar_dir, n=1, size=MICRO_SIZE)
    length, lq = model.num_units, model.geometry.query_length
    steps = sorted({s for s in (0, 1, lq - 1, lq, lq + 1, length // 2, length - 2, length - 1) if s < length})
    base = assert_causal(model, features, steps=steps)
    if conditioning != "none":
        key = "label" if conditioning == "class" else "inputs"
        other = dict(features, **{key: (features[key] + 1) % 10 if key == "label" else 255 - features[key]})
        assert np.abs(predictions(model, other)[0] - base)[0].max() > 1e-4


@pytest.mark.parametrize("overrides", ["query_block_length=16,memory_length=40",
                                       "attention_type=local_2d,query_shape=[2,4],memory_flange=[1,3]",
                                       "attention_type=local_2d,query_shape=[2,4],memory_flange=[1,3],likelihood=dmol,"
                                       "num_mixtures=2"])
def test_causal_when_blocks_do_not_tile_a_non_square_image(overrides):
    """A 5x7 image: neither 1D blocks of 16 nor 2D blocks of 2x4 tile it; padding must not leak or hide."""
    model = micro_model("imagetransformer_cifar10_tiny", overrides, (5, 7, 3), dtype="float64")
    images = np.random.RandomState(1).randint(0, 256, (1, 5, 7, 3)).astype(np.uint8)
    assert_causal(model, {"targets": images})


def micro_model(set_name, overrides, image_shape, num_classes=None, input_shape=None, num_levels=256, dtype=None):
    catalog.load_builtins()
    model_name, _ = registry.model_and_problem_of(set_name)
    hp = registry.hparams(set_name)
    hp.parse(overrides)
    info = {"image_shape": list(image_shape), "num_classes": num_classes, "input_shape": input_shape}
    if num_levels != 256:
        info["num_levels"] = num_levels
    keras.utils.set_random_seed(0)  # the same weights in every run: the "really sampled" checks are then not luck
    with dtype_policy(dtype or keras.config.dtype_policy().name):
        return registry.model(model_name)(hp, info).build_variables()


# Two layers and blocks of 8 units (memory 16) over 4x5 images: several blocks, a cache crossing them
SAMPLING = ("hidden_size=16,filter_size=32,num_heads=2,num_decoder_layers=2,attention_key_channels=0,"
            "query_block_length=8,memory_length=16,query_shape=[2,4],memory_flange=[1,2],num_mixtures=3")


def sampling_model(attention_type, likelihood, conditioning="none", image_shape=(4, 5, 3), num_levels=256):
    """A micro model computing in float64: the cached and naive passes sum in different orders, and in float32 their
    parameters differ in the last bits (~2e-7), enough to move a DMOL draw across a rounding boundary now and then.
    In float64 the float32 parameters the sampler draws from come out bit-identical."""
    set_name = CONDITIONING[conditioning][0]
    model = micro_model(set_name, f"{SAMPLING},attention_type={attention_type},likelihood={likelihood}", image_shape,
                        num_classes=10 if conditioning == "class" else None,
                        input_shape=[2, 2, 3] if conditioning == "low_res" else None, num_levels=num_levels,
                        dtype="float64")
    features = {"label": np.array([3, 7])} if conditioning == "class" else {}
    if conditioning == "low_res":
        features["inputs"] = np.random.RandomState(0).randint(0, 256, (2, 2, 2, 3)).astype(np.uint8)
    return model, features


# PAIRWISE again: the caches are per attention type and per conditioning; the likelihood only draws from the
# parameters they give.
@pytest.mark.parametrize("attention_type,likelihood,conditioning", PAIRWISE)
def test_cached_sampling_equals_naive_for_every_pair_of_attention_type_likelihood_and_conditioning(
        attention_type, likelihood, conditioning):
    model, features = sampling_model(attention_type, likelihood, conditioning)
    cached = cached_sample(model, 2, temperature=0.9, seed=11, features=features, jit_compile=False).numpy()
    np.testing.assert_array_equal(cached, naive_sample(model, 2, temperature=0.9, seed=11, features=features).numpy())
    assert cached.dtype == np.uint8 and cached.shape == (2, 4, 5, 3)
    assert len(np.unique(cached)) > 10  # really sampled, not a constant image
    other = cached_sample(model, 2, temperature=0.9, seed=12, features=features, jit_compile=False).numpy()
    assert not np.array_equal(cached, other)


def test_cached_sampling_with_xla_draws_the_images_without():
    model, _ = sampling_model("local_2d", "categorical")
    np.testing.assert_array_equal(cached_sample(model, 2, seed=5).numpy(),
                                  cached_sample(model, 2, seed=5, jit_compile=False).numpy())


@pytest.mark.parametrize("attention_type,likelihood", [("local_1d", "categorical"), ("local_2d", "dmol")])
def test_completion_keeps_the_top_half_and_matches_naive(attention_type, likelihood):
    model, _ = sampling_model(attention_type, likelihood, image_shape=(4, 8, 3))
    real = np.random.RandomState(3).randint(0, 256, (2, 4, 8, 3)).astype(np.uint8)
    mask = np.zeros((2, 4, 8, 3), bool)
    mask[:, :2] = True  # condition on the top half
    cached = cached_sample(model, 2, seed=4, known=real, known_mask=mask, jit_compile=False).numpy()
    np.testing.assert_array_equal(cached, naive_sample(model, 2, seed=4, known=real, known_mask=mask).numpy())
    np.testing.assert_array_equal(cached[:, :2], real[:, :2])
    assert not np.array_equal(cached[:, 2:], real[:, 2:])


@pytest.mark.parametrize("attention_type,likelihood", [("local_2d", "categorical"), ("local_2d", "dmol"),
                                                       ("local_1d", "categorical"), ("global", "dmol")])
def test_parallel_likelihood_equals_position_by_position_reference(attention_type, likelihood, zebra):
    """The blocked, parallel log-likelihood equals the one computed one position at a time (teacher forcing
    through the incremental path, which applies each position's own mask row), on a real image."""
    model, _ = sampling_model(attention_type, likelihood, image_shape=(6, 7, 3))
    zebra = zebra[:2, 5:11, 3:10]  # real pixels, 6x7
    parallel = ops.convert_to_numpy(model.log_prob({"targets": zebra})).sum(axis=(1, 2, 3))
    units = zebra.reshape(2, model.num_units, -1)[..., 0] if likelihood == "categorical" else zebra.reshape(2, -1, 3)
    stepped, total = teacher_forced_params(model, zebra), 0.0  # the incremental step's parameters, one unit at a time
    for t in range(model.num_units):
        current = units[:, model.geometry.order[t]]
        log_prob = ops.convert_to_numpy(model.likelihood.log_prob(stepped[:, t], current))  # [2, 3] (DMOL) or [2]
        total = total + (log_prob.sum(-1) if likelihood == "dmol" else log_prob)
    np.testing.assert_allclose(total, parallel, rtol=1e-5)


@pytest.mark.parametrize("attention_type", ATTENTION_TYPES)
@pytest.mark.parametrize("image_shape,num_levels", [((4, 5, 1), 2), ((3, 7, 3), 256)])
def test_binary_grayscale_and_non_square_images_are_causal_and_sample_exactly(attention_type, image_shape, num_levels):
    """C = 1 with binary values, and H != W, for every attention type: the distributions are normalised over the
    levels, no prediction sees its own or a later unit, and the cached sampler draws the naive sampler's images."""
    model, _ = sampling_model(attention_type, "categorical", image_shape=image_shape, num_levels=num_levels)
    images = np.random.RandomState(6).randint(0, num_levels, (1, *image_shape)).astype(np.uint8)
    base = assert_causal(model, {"targets": images})
    assert base.shape[-1] == num_levels
    np.testing.assert_allclose(np.exp(base).sum(-1), 1.0, atol=1e-5)
    cached = cached_sample(model, 2, temperature=0.9, seed=2, jit_compile=False).numpy()
    assert cached.shape == (2, *image_shape) and cached.max() < num_levels
    np.testing.assert_array_equal(cached, naive_sample(model, 2, temperature=0.9, seed=2).numpy())


def test_local_attention_covering_everything_equals_global():
    local = micro_model("imagetransformer_cifar10_tiny", "query_block_length=48,memory_length=48", (4, 4, 3))
    full = micro_model("imagetransformer_cifar10_tiny", "attention_type=global", (4, 4, 3))
    full.set_weights(local.get_weights())
    images = {"targets": np.random.RandomState(0).randint(0, 256, (2, 4, 4, 3)).astype(np.uint8)}
    np.testing.assert_allclose(ops.convert_to_numpy(local(images)), ops.convert_to_numpy(full(images)), atol=1e-5)


def test_bad_hparams_and_missing_conditioning_give_clear_errors(builtins):
    with pytest.raises(ValueError, match="attention_type"):
        micro_model("imagetransformer_cifar10_tiny", "attention_type=local_3d", (32, 32, 3))
    with pytest.raises(ValueError, match="query_block_length"):
        micro_model("imagetransformer_cifar10_tiny", "memory_length=8", (32, 32, 3))
    with pytest.raises(ValueError, match="likelihood=dmol models RGB pixels .* 1 channel"):
        micro_model("imagetransformer_cifar10_tiny", "likelihood=dmol", (4, 5, 1))
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
        model, problem = build(set_name, MICRO, image_size=MICRO_SIZE, seed=0)
        outputs.append(predictions(model, real_features(problem, cifar_dir, size=MICRO_SIZE)))
    np.testing.assert_array_equal(outputs[0], outputs[1])


def test_dropout_is_off_at_inference(cifar_dir):
    """dropout=0.1: predictions are deterministic outside training, and a changed unit moves only later ones."""
    model, problem = build("imagetransformer_cifar10_tiny", f"{MICRO},dropout=0.1", image_size=MICRO_SIZE, seed=0,
                           dtype="float64")
    features = real_features(problem, cifar_dir, n=1, size=MICRO_SIZE)
    np.testing.assert_array_equal(predictions(model, features), predictions(model, features))
    assert_causal(model, features, steps=[0, 1, 39, 40, 431])
    changed = dict(features, targets=change_unit(model, features["targets"], 0))
    assert np.abs(predictions(model, changed) - predictions(model, features))[0, 1:].max() > 1e-5
