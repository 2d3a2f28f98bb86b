"""A user's grayscale images end to end, for a model of each family: an image folder read as one channel
(`channels=1`), trained, evaluated (bits/dim and nats per image), sampled to a PNG grid, exported; the export's
bits/dim equals the evaluation, its samples repeat per seed, and a 3-channel image is refused."""
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from conftest import TINY_OVERRIDES
from imgtf.train import run_dir

SIZE = 8


@pytest.fixture(scope="module")
def gray_folder(tmp_path_factory, cifar_dir):
    """Real CIFAR-10 fixture images saved as 1-channel (L-mode) PNGs: 16 to train on, 6 to test."""
    from imgtf.data import cifar

    root = tmp_path_factory.mktemp("gray")
    for split, count in (("train", 16), ("test", 6)):
        folder = root / split
        folder.mkdir()
        for i, image in enumerate(cifar.read_split(cifar_dir, split).images[:count]):
            Image.fromarray(image).convert("L").save(folder / f"{i:03d}.png")
    return str(root)


# one model of each family (the suite's time budget); the recurrent models' one-channel steps, causality and
# sampling are tested in tests/test_pixel_models.py
@pytest.mark.parametrize("model,hparams_set,overrides", [
    ("image_transformer", "imagetransformer_cifar10_tiny", TINY_OVERRIDES),
    ("pixelcnn", "pixelcnn_cifar10_tiny", ""),
])
def test_grayscale_folder_trains_evaluates_samples_and_exports(builtins, gray_folder, tmp_path, model, hparams_set,
                                                                 overrides):
    from imgtf.export.saved_model import export_saved_model
    from imgtf.sampling.decode import decode
    from imgtf.train.trainer import Trainer

    out = str(tmp_path / "run")
    spec = run_dir.resolve(out, "image_folder", model, hparams_set, overrides,
                           problem_options=f"image_size={SIZE},channels=1")
    run_dir.save(spec, out)
    trainer = Trainer(spec, out, gray_folder)
    assert trainer.problem.image_shape == (SIZE, SIZE, 1)
    trainer.train(2)
    entry = trainer.evaluate("test")
    assert entry["num_images"] == 6 and 4.0 < entry["bits_per_dim"] < 9.0
    assert entry["nats_per_image"] == pytest.approx(entry["bits_per_dim"] * SIZE * SIZE * np.log(2), rel=1e-6)

    summary = decode(trainer.model, trainer.problem, str(tmp_path / "samples"), num_samples=3)
    samples = np.load(tmp_path / "samples" / "samples.npy")
    assert summary["num_images"] == 3 and samples.shape == (3, SIZE, SIZE, 1)
    assert np.asarray(Image.open(tmp_path / "samples" / "samples.png")).shape[-1] == 3

    export_saved_model(trainer.model, str(tmp_path / "export"), jit_compile=False)
    exported = tf.saved_model.load(str(tmp_path / "export"))
    test_images = next(iter(trainer.problem.dataset("test", gray_folder, 6)))["targets"]
    bpd = exported.signatures["bits_per_dim"](images=test_images)["bits_per_dim"].numpy()
    assert float(np.mean(bpd)) == pytest.approx(entry["bits_per_dim"], rel=1e-5)
    args = dict(num_samples=tf.constant(2), temperature=tf.constant(1.0), seed=tf.constant(7))
    first, again = (exported.signatures["sample"](**args)["images"].numpy() for _ in range(2))
    assert first.shape == (2, SIZE, SIZE, 1) and np.array_equal(first, again)
    with pytest.raises((tf.errors.InvalidArgumentError, TypeError, ValueError)):
        exported.signatures["log_prob"](images=tf.zeros([1, SIZE, SIZE, 3], tf.uint8))


def test_channels_option_is_checked(builtins):
    from imgtf.hparams.hparams import HParamsError

    problem = builtins.problem("image_folder")
    with pytest.raises(HParamsError, match="channels=2; use 1 .grayscale. or 3"):
        problem.configure("channels=2")
