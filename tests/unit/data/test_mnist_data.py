"""MNIST and binarized MNIST: the official IDX and .amat files (whole, partial, damaged), tfds, and dynamic
binarization drawn per epoch from (seed, epoch, index). Only the real fixtures in tests/data/mnist."""
import gzip
import os
import re
import shutil

import numpy as np
import pytest

from imgtf.data import amat, idx
from imgtf.errors import CorruptDataError, DataNotFoundError


def raw_idx(path):
    """The fixture's digits read with nothing of imgtf: gzip, a 16-byte header, the bytes."""
    data = gzip.open(path).read()
    return np.frombuffer(data[16:], np.uint8).reshape(-1, 28, 28)


def everything(problem, split, data_dir, batch=500, **kwargs):
    batches = list(problem.dataset(split, data_dir, batch, **kwargs))
    return {k: np.concatenate([b[k].numpy() for b in batches]) for k in batches[0]}


def test_idx_files_read_as_published_and_partial_copies_say_so(mnist_dir, tmp_path):
    split = idx.read_split(mnist_dir, "train")
    assert split.images.shape == (2000, 28, 28, 1) and split.images.dtype == np.uint8
    np.testing.assert_array_equal(split.images[..., 0], raw_idx(os.path.join(mnist_dir, "train-images-idx3-ubyte.gz")))
    assert set(np.unique(split.labels)) == set(range(10))
    assert "PARTIAL copy: 2000 of 60000 images (58000 missing)" in split.notice
    # unzipped, in torchvision's MNIST/raw/ layout: the same digits
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (raw / name).write_bytes(gzip.open(os.path.join(mnist_dir, name + ".gz")).read())
    unzipped, zipped = idx.read_split(str(tmp_path), "test"), idx.read_split(mnist_dir, "test")
    np.testing.assert_array_equal(unzipped.images, zipped.images)
    np.testing.assert_array_equal(unzipped.labels, zipped.labels)


@pytest.mark.parametrize("damage,message", [
    ("truncate", re.escape("header says 500 entries of shape [28, 28] (392000 bytes) but it holds 1000: the file is "
                           "truncated")),
    ("magic", re.escape("not an MNIST images file (IDX magic 2051 expected, found 2049)")),
    ("labels", "holds 500 digits but .* 499 labels"),
    ("missing", "no t10k-labels-idx1-ubyte.gz"),
])
def test_damaged_idx_files_are_refused_naming_the_file(mnist_dir, tmp_path, damage, message):
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(os.path.join(mnist_dir, name), tmp_path / name)
    images, labels = tmp_path / "t10k-images-idx3-ubyte.gz", tmp_path / "t10k-labels-idx1-ubyte.gz"
    if damage == "truncate":
        images.write_bytes(gzip.compress(gzip.open(images).read()[:16 + 1000]))
    elif damage == "magic":
        images.write_bytes(labels.read_bytes())
    elif damage == "labels":
        idx.write_idx(idx.read_idx(str(labels), idx.LABELS_MAGIC)[:499], str(labels))
    else:
        labels.unlink()
    error = DataNotFoundError if damage == "missing" else CorruptDataError
    with pytest.raises(error, match=message):
        idx.read_split(str(tmp_path), "test")


def test_amat_files_read_and_write_back_and_bad_lines_are_named(mnist_dir, tmp_path):
    train = amat.read_split(mnist_dir, "train")
    assert train.images.shape == (100, 28, 28, 1) and set(np.unique(train.images)) == {0, 1}
    assert "PARTIAL copy: 100 of 50000 images" in train.notice
    lines = open(os.path.join(mnist_dir, "binarized_mnist_train.amat")).read().splitlines()
    np.testing.assert_array_equal(train.images[3].ravel(), [int(v) for v in lines[3].split()])
    amat.write(train.images, str(tmp_path / "binarized_mnist_test.amat"))
    np.testing.assert_array_equal(amat.read_split(str(tmp_path), "test").images, train.images)
    for bad, found in ((" ".join(lines[5].split()[:783]), "found 783 values"), (lines[5].replace("1", "2", 1), "")):
        (tmp_path / "binarized_mnist_test.amat").write_text("\n".join(lines[:5] + [bad] + lines[6:]) + "\n")
        expected = f"binarized_mnist_test.amat, line 6: expected 784 values of 0 or 1.*{found}"
        with pytest.raises(CorruptDataError, match=expected):
            amat.read_split(str(tmp_path), "test")


def test_image_mnist_and_binarized_mnist_problems(builtins, mnist_dir):
    mnist = builtins.problem("image_mnist")
    test = everything(mnist, "test", mnist_dir)
    assert test["targets"].shape == (500, 28, 28, 1) and test["targets"].dtype == np.uint8
    raw = raw_idx(os.path.join(mnist_dir, "t10k-images-idx3-ubyte.gz"))
    np.testing.assert_array_equal(test["targets"][..., 0], raw)
    assert mnist.info == {"image_shape": [28, 28, 1], "input_shape": None, "num_classes": 10}
    assert mnist.reported_metric == "bits_per_dim"
    binarized = builtins.problem("image_binarized_mnist")
    assert binarized.splits == ("train", "validation", "test") and binarized.reported_metric == "nats_per_image"
    assert binarized.info["num_levels"] == 2 and binarized.num_classes is None
    validation = everything(binarized, "validation", mnist_dir)
    np.testing.assert_array_equal(validation["targets"], amat.read_split(mnist_dir, "validation").images)
    assert list(validation) == ["targets"]


def test_dynamic_binarization_draws_each_epoch_resumes_and_evaluates_alike(builtins, mnist_dir):
    mnist = builtins.problem("image_mnist")
    mnist.configure("binarization=dynamic")
    assert mnist.info["num_levels"] == 2 and mnist.reported_metric == "nats_per_image"
    gray = idx.read_split(mnist_dir, "train").images

    def stream(seed, skip=0, batches=4, batch=1000):  # 2,000 digits: batches 0-1 are epoch 0, 2-3 epoch 1
        ds = mnist.dataset("train", mnist_dir, batch, shuffle=True, repeat=True, seed=seed, skip_batches=skip)
        return [{k: v.numpy() for k, v in b.items()} for b, _ in zip(ds, range(batches))]

    run = stream(seed=3)
    for batch in run:
        assert set(np.unique(batch["targets"])) == {0, 1}
    # the draw is 1 with probability intensity / 255: over 2,000 digits the share of ones is that mean
    epoch0 = np.concatenate([b["targets"] for b in run[:2]])
    assert abs(epoch0.mean() - gray.mean() / 255) < 0.002
    # read in order and repeated, each epoch draws every digit afresh, from its own gray levels
    ordered = mnist.dataset("test", mnist_dir, 500, repeat=True, seed=3)
    epochs = [b["targets"].numpy() for b, _ in zip(ordered, range(2))]
    test_gray = idx.read_split(mnist_dir, "test").images
    assert 0.03 < np.mean(epochs[0] != epochs[1]) < 0.045  # 2 p (1 - p) on average over the pixels: 0.0375
    for epoch in epochs:
        assert not epoch[test_gray == 0].any() and epoch[test_gray == 255].all()
    # a run resumed at batch 2 sees the very draws an uninterrupted one saw
    for a, b in zip(run[2:], stream(seed=3, skip=2, batches=2)):
        np.testing.assert_array_equal(a["targets"], b["targets"])
    assert not np.array_equal(run[0]["targets"], stream(seed=4, batches=1)[0]["targets"])
    # evaluation: one fixed draw, whatever the run's seed
    first, second = everything(mnist, "test", mnist_dir), everything(mnist, "test", mnist_dir, seed=7)
    np.testing.assert_array_equal(first["targets"], second["targets"])
    assert set(np.unique(first["targets"])) == {0, 1}


def test_dynamic_binarization_from_a_preparation_draws_as_the_raw_files(builtins, mnist_dir, tmp_path):
    """imgtf-datagen stores the gray digits; the draws happen at reading, the same as from the raw files."""
    from imgtf.data import prepared

    mnist = builtins.problem("image_mnist")
    mnist.configure("binarization=dynamic")
    prepared.write(mnist, "test", mnist_dir, str(tmp_path))
    meta = prepared.find(str(tmp_path), "image_mnist", "test")
    stored = np.asarray(prepared.indexed(meta).gather(np.arange(500))["targets"])
    assert stored.max() > 1  # gray levels, not one draw
    for kwargs in ({}, {"shuffle": True, "repeat": True, "seed": 1}):
        raw, ready = (next(iter(mnist.dataset("test", d, 250, **kwargs)))["targets"].numpy()
                      for d in (mnist_dir, str(tmp_path)))
        np.testing.assert_array_equal(raw, ready)


def test_bad_binarization_option_is_refused(builtins):
    from imgtf.hparams.hparams import HParamsError

    with pytest.raises(HParamsError, match="binarization='fixed': use one of none, dynamic .*image_binarized_mnist"):
        builtins.problem("image_mnist").configure("binarization=fixed")
