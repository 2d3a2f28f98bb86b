"""A user's own images end to end, for a model of each family: an image folder read as grayscale (`channels=1`),
binary (`num_levels=2`, by threshold or by fixed stochastic draws) and non-square (`image_width`), trained, evaluated
(bits/dim and nats per image), sampled to a PNG grid, exported; the export's bits/dim equals the evaluation, its
samples repeat per seed, and images of another channel count, size or range are refused. Also the folder's pixel
options themselves: binarisation, aspect-preserving crops, checks, and prepared data made with other options."""
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from conftest import TINY_OVERRIDES, cifar_as_folder
from imgtf.train import run_dir
from imgtf.evaluation.evaluator import Evaluator

SIZE = 8
WIDE = 12  # non-square problems: SIZE x WIDE


@pytest.fixture(scope="module")
def gray_folder(tmp_path_factory, cifar_dir):
    """Real CIFAR-10 fixture images saved as 1-channel (L-mode) PNGs: 16 to train on, 6 to test."""
    return cifar_as_folder(tmp_path_factory.mktemp("gray"), cifar_dir, {"train": 16, "test": 6}, mode="L")


# one model of each family (the suite's time budget): grayscale 8-bit squares, and binary non-square images (which
# cover one channel for the Image Transformer too); the
# recurrent models' one-channel (and binary) steps, causality and sampling are tested in tests/models/test_pixel_rnn.py
@pytest.mark.parametrize("model,hparams_set,overrides,options", [
    ("pixelcnn", "pixelcnn_cifar10_tiny", "", f"image_size={SIZE},channels=1"),
    ("image_transformer", "imagetransformer_cifar10_tiny", TINY_OVERRIDES,
     f"image_size={SIZE},image_width={WIDE},channels=1,num_levels=2"),
    ("pixelcnn", "pixelcnn_cifar10_tiny", "",
     f"image_size={SIZE},image_width={WIDE},channels=1,num_levels=2,binarization=stochastic"),
], ids=["pixelcnn-gray", "image_transformer-binary-8x12", "pixelcnn-binary-stochastic-8x12"])
def test_user_folder_trains_evaluates_samples_and_exports(builtins, gray_folder, tmp_path, model, hparams_set,
                                                          overrides, options):
    from imgtf.export.saved_model import export_saved_model
    from imgtf.sampling.decode import decode
    from imgtf.sampling.settings import SamplingSettings
    from imgtf.train.trainer import Trainer

    out = str(tmp_path / "run")
    spec = run_dir.resolve(out, "image_folder", model, hparams_set, overrides, problem_options=options)
    run_dir.save(spec, out)
    trainer = Trainer(spec, out, gray_folder)
    levels = trainer.problem.num_levels
    shape = trainer.problem.image_shape
    assert shape == ((SIZE, WIDE, 1) if levels == 2 else (SIZE, SIZE, 1)) and trainer.model.num_levels == levels
    trainer.train(2)
    entry = Evaluator.of(trainer).evaluate("test")
    uniform = np.log2(levels)  # bits/dim of the uniform distribution: 8 for 8-bit images, 1 for binary ones
    assert entry["num_images"] == 6 and 0.3 * uniform < entry["bits_per_dim"] < 1.15 * uniform
    assert entry["nats_per_image"] == pytest.approx(entry["bits_per_dim"] * np.prod(shape) * np.log(2), rel=1e-6)

    summary = decode(trainer.model, trainer.problem, str(tmp_path / "samples"),
                     SamplingSettings(num_samples=3, jit_compile=False))
    samples = np.load(tmp_path / "samples" / "samples.npy")
    assert summary["num_images"] == 3 and samples.shape == (3, *shape) and samples.max() < levels
    grid = np.asarray(Image.open(tmp_path / "samples" / "samples.png"))
    assert grid.shape[-1] == 3
    if levels == 2:  # binary samples shown black and white (level 1 as 255), on the grid's white background
        assert set(np.unique(grid)) <= {0, 255} and (grid == 0).any() and summary["num_levels"] == 2

    export_saved_model(trainer.model, str(tmp_path / "export"), jit_compile=False)
    exported = tf.saved_model.load(str(tmp_path / "export"))
    test_images = next(iter(trainer.problem.dataset("test", gray_folder, 6)))["targets"]
    bpd = exported.signatures["bits_per_dim"](images=test_images)["bits_per_dim"].numpy()
    assert float(np.mean(bpd)) == pytest.approx(entry["bits_per_dim"], rel=1e-5)
    args = dict(num_samples=tf.constant(2), temperature=tf.constant(1.0), seed=tf.constant(7))
    first, again = (exported.signatures["sample"](**args)["images"].numpy() for _ in range(2))
    assert first.shape == (2, *shape) and np.array_equal(first, again) and first.max() < levels
    wrong_shapes = [[1, *shape[:2], 3], [1, shape[0], shape[1] + 1, 1]]  # 3 channels; one column too many
    for wrong in wrong_shapes:
        with pytest.raises(tf.errors.InvalidArgumentError, match="images must be uint8 .batch, "):
            exported.signatures["log_prob"](images=tf.zeros(wrong, tf.uint8))
    if levels == 2:  # 0/255 "binary" images are not this model's values
        with pytest.raises(tf.errors.InvalidArgumentError, match="values 0..1 .* not 0/255"):
            exported.signatures["bits_per_dim"](images=tf.fill([1, *shape], tf.constant(255, tf.uint8)))


@pytest.mark.parametrize("options,message", [
    ("channels=2", "channels=2; use 1 .grayscale. or 3"),
    ("num_levels=1", "num_levels=1; use 2 .binary. to 256"),
    ("num_levels=300", "num_levels=300; use 2"),
    ("num_levels=4,binarization=stochastic", "binarization=stochastic draws binary images; it needs num_levels=2"),
    ("binarization=otsu", "binarization='otsu'; use threshold or stochastic"),
    ("input_width=4", "input_width needs input_size"),
    ("image_width=-3", "image_width=-3 must be >= 0"),
])
def test_pixel_options_are_checked(builtins, options, message):
    from imgtf.hparams.hparams import HParamsError

    problem = builtins.problem("image_folder")
    with pytest.raises(HParamsError, match=message):
        problem.configure(options)


def first_images(builtins, folder, options, n=6, split="test"):
    problem = builtins.problem("image_folder")
    problem.configure(options)
    return problem, next(iter(problem.dataset(split, folder, n)))["targets"].numpy()


def test_binarisation_by_threshold_and_by_fixed_random_draws(builtins, gray_folder):
    """threshold: 1 exactly where the 8-bit gray value is >= 128; stochastic: 1 with probability value/255, the same
    draws on every read and for every seed-equal run, others for another binarization_seed."""
    _, gray = first_images(builtins, gray_folder, f"image_size={SIZE},channels=1")
    _, binary = first_images(builtins, gray_folder, f"image_size={SIZE},channels=1,num_levels=2")
    np.testing.assert_array_equal(binary, (gray >= 128).astype(np.uint8))
    _, four = first_images(builtins, gray_folder, f"image_size={SIZE},channels=1,num_levels=4")
    np.testing.assert_array_equal(four, gray // 64)

    stochastic = f"image_size={SIZE},channels=1,num_levels=2,binarization=stochastic"
    problem, drawn = first_images(builtins, gray_folder, stochastic, n=16, split="train")
    again = next(iter(problem.dataset("train", gray_folder, 16)))["targets"].numpy()
    np.testing.assert_array_equal(drawn, again)  # fixed once per image, as binarized MNIST
    _, gray_train = first_images(builtins, gray_folder, f"image_size={SIZE},channels=1", n=16, split="train")
    assert set(np.unique(drawn)) == {0, 1}
    # 1024 draws: their mean is the mean intensity / 255 within a few standard errors (0.016)
    assert abs(drawn.mean() - gray_train.mean() / 255.0) < 0.05
    assert not np.array_equal(drawn, (gray_train >= 128).astype(np.uint8))
    _, other_seed = first_images(builtins, gray_folder, stochastic + ",binarization_seed=1", n=16, split="train")
    assert not np.array_equal(drawn, other_seed)


def test_non_square_targets_keep_the_picture_aspect(builtins, tmp_path):
    """A 20x40 photograph-like image (left half dark, right half bright) at 8x16 is area-resized whole, without a crop;
    at 8x8 its centre square is kept; at 16x8 a centred 20x10 strip."""
    image = np.zeros((20, 40, 3), np.uint8)
    image[:, 20:] = 200
    for split in ("train", "test"):
        (tmp_path / split).mkdir()
        Image.fromarray(image).save(tmp_path / split / "a.png")
    _, wide = first_images(builtins, str(tmp_path), "image_size=8,image_width=16", n=1)
    assert wide.shape == (1, 8, 16, 3) and (wide[0, :, :8] == 0).all() and (wide[0, :, 8:] == 200).all()
    _, square = first_images(builtins, str(tmp_path), "image_size=8", n=1)
    assert (square[0, :, :4] == 0).all() and (square[0, :, 4:] == 200).all()
    _, tall = first_images(builtins, str(tmp_path), "image_size=16,image_width=8", n=1)
    assert tall.shape == (1, 16, 8, 3) and (tall[0, :, :4] == 0).all() and (tall[0, :, 4:] == 200).all()


def test_prepared_data_of_other_options_is_refused(builtins, gray_folder, tmp_path):
    """imgtf-datagen's shards of the 8-bit images would otherwise be read, unchanged, by a binary problem."""
    from imgtf.data import prepared
    from imgtf.errors import CorruptDataError

    problem = builtins.problem("image_folder")
    problem.configure(f"image_size={SIZE},channels=1")
    prepared.write(problem, "test", gray_folder, str(tmp_path))
    assert problem.prepared("test", str(tmp_path))["count"] == 6
    binary = builtins.problem("image_folder")
    binary.configure(f"image_size={SIZE},channels=1,num_levels=2")
    with pytest.raises(CorruptDataError, match="other problem options .*num_levels=256 there, 2 now.*imgtf-datagen"):
        binary.dataset("test", str(tmp_path), 2)


def test_user_inputs_for_a_grayscale_binary_super_resolution_model(builtins, gray_folder):
    """imgtf-decoder --input_images: the user's files reach the model as its training inputs did (here one channel,
    two levels, non-square), not as 8-bit RGB."""
    from imgtf.data.images import load_user_images

    problem = builtins.problem("image_folder")
    problem.configure(f"image_size={SIZE},image_width={WIDE},input_size=4,input_width=6,channels=1,num_levels=2")
    assert problem.input_shape == (4, 6, 1)
    files = sorted(str(path) for path in (Path(gray_folder) / "test").glob("*.png"))
    loaded = load_user_images(files, problem.input_shape[:2], problem.pixel_format)
    from_pipeline = next(iter(problem.dataset("test", gray_folder, len(files))))["inputs"].numpy()
    np.testing.assert_array_equal(loaded, from_pipeline)
