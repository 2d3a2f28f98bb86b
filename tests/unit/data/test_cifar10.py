import json
import os
import pickle
import shutil
import time

import numpy as np
import pytest

from imgtf.data import cifar
from imgtf.errors import CorruptDataError, DataNotFoundError
from imgtf.data.safe_pickle import UnsafePickleError, restricted_loads


def test_reads_folder_and_tarball_identically(cifar_dir, cifar_tarball):
    folder = cifar.read_split(cifar_dir, "train")
    tarball = cifar.read_split(os.path.join(cifar_tarball, cifar.ARCHIVE), "train")
    assert folder.images.shape == (2034, 32, 32, 3) and folder.images.dtype == np.uint8
    np.testing.assert_array_equal(folder.images, tarball.images)
    np.testing.assert_array_equal(folder.labels, tarball.labels)
    assert cifar.read_split(cifar_dir, "test").images.shape == (1017, 32, 32, 3)


def test_labels_match_official_label_lists(cifar_dir):
    from conftest import TEST_DATA

    with open(os.path.join(TEST_DATA, "cifar10", "label_lists.json")) as f:
        official = json.load(f)  # the official lists' first 1,017 labels of each shipped batch
    labels = cifar.read_split(cifar_dir, "test").labels
    np.testing.assert_array_equal(labels, official["test_batch"][:len(labels)])
    train = cifar.read_split(cifar_dir, "train").labels
    np.testing.assert_array_equal(train, official["data_batch_1"] + official["data_batch_2"])


def test_pixel_layout_is_rgb_planes_row_major(cifar_dir):
    with open(os.path.join(cifar_dir, cifar.FOLDER, "test_batch"), "rb") as f:
        raw = restricted_loads(f.read())[b"data"]
    image = cifar.read_split(cifar_dir, "test").images[5]
    np.testing.assert_array_equal(image[..., 0].ravel(), raw[5, :1024])  # red plane
    np.testing.assert_array_equal(image[..., 2].ravel(), raw[5, 2048:])  # blue plane
    np.testing.assert_array_equal(image[3, 7], raw[5, [3 * 32 + 7, 1024 + 3 * 32 + 7, 2048 + 3 * 32 + 7]])


def test_partial_copy_is_announced(cifar_dir, tmp_path):
    notice = cifar.read_split(cifar_dir, "train").notice
    assert "PARTIAL" in notice and "2034 of 50000" in notice and "data_batch_3: missing" in notice
    folder = tmp_path / cifar.FOLDER
    folder.mkdir()
    shutil.copy(os.path.join(cifar_dir, cifar.FOLDER, "data_batch_2"), folder)
    split = cifar.read_split(str(tmp_path), "train")
    assert len(split.images) == 1017 and "data_batch_1: missing" in split.notice


def test_missing_split_names_the_file(cifar_dir, tmp_path):
    folder = tmp_path / cifar.FOLDER
    folder.mkdir()
    shutil.copy(os.path.join(cifar_dir, cifar.FOLDER, "data_batch_1"), folder)
    with pytest.raises(DataNotFoundError, match="test_batch"):
        cifar.read_split(str(tmp_path), "test")
    with pytest.raises(DataNotFoundError, match="cifar-10-python.tar.gz"):
        cifar.read_split(str(tmp_path / "nothing_here"), "train")


def test_truncated_batch_names_the_file(cifar_dir, tmp_path):
    folder = tmp_path / cifar.FOLDER
    folder.mkdir()
    data = open(os.path.join(cifar_dir, cifar.FOLDER, "test_batch"), "rb").read()
    (folder / "test_batch").write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptDataError, match="test_batch"):
        cifar.read_split(str(tmp_path), "test")


def test_wrong_content_names_the_file(tmp_path):
    folder = tmp_path / cifar.FOLDER
    folder.mkdir()
    (folder / "test_batch").write_bytes(pickle.dumps({b"data": np.zeros((3, 100), np.uint8), b"labels": [0, 1, 2]}, 2))
    with pytest.raises(CorruptDataError, match=r"test_batch.*uint8 \[N, 3072\]"):
        cifar.read_split(str(tmp_path), "test")


def test_corrupt_tarball_names_the_file(cifar_tarball, tmp_path):
    data = open(os.path.join(cifar_tarball, cifar.ARCHIVE), "rb").read()
    broken = tmp_path / cifar.ARCHIVE
    broken.write_bytes(data[: len(data) // 3])
    with pytest.raises(CorruptDataError, match=cifar.ARCHIVE):
        cifar.read_split(str(tmp_path), "train")


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_cannot_run_code(tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps({b"data": _RunsCode(marker), b"labels": [0]}, protocol=2)
    pickle.loads(payload)  # the plain unpickler really would run it ...
    assert marker.exists()
    marker.unlink()
    with pytest.raises(UnsafePickleError, match="system"):  # ... the restricted one refuses
        restricted_loads(payload)
    assert not marker.exists()
    folder = tmp_path / cifar.FOLDER
    folder.mkdir()
    (folder / "test_batch").write_bytes(payload)
    with pytest.raises(CorruptDataError, match="test_batch"):
        cifar.read_split(str(tmp_path), "test")
    assert not marker.exists()


def test_restricted_unpickler_refuses_object_arrays_and_builtins():
    with pytest.raises(UnsafePickleError):
        restricted_loads(pickle.dumps(np.array([{"a": 1}], dtype=object), protocol=2))
    with pytest.raises(UnsafePickleError):
        restricted_loads(pickle.dumps(eval, protocol=2))
    arr = np.arange(12, dtype=np.uint8).reshape(3, 4)
    np.testing.assert_array_equal(restricted_loads(pickle.dumps({"x": arr, "l": [1, b"b"]}, protocol=2))["x"], arr)


def test_no_data_and_no_tfds_fails_fast_with_instructions(builtins, tmp_path):
    start = time.time()
    with pytest.raises(DataNotFoundError, match="Download https://www.cs.toronto.edu"):
        builtins.problem("image_cifar10").examples("train", str(tmp_path))
    assert time.time() - start < 30


def test_pipeline_features_and_determinism(builtins, cifar_dir):
    problem = builtins.problem("image_cifar10")
    batch = next(iter(problem.dataset("test", cifar_dir, 8)))
    assert batch["targets"].shape == (8, 32, 32, 3) and batch["targets"].dtype.name == "uint8"
    assert batch["label"].dtype.name == "int32"
    np.testing.assert_array_equal(batch["targets"].numpy(), cifar.read_split(cifar_dir, "test").images[:8])
    assert sum(int(b["targets"].shape[0]) for b in problem.dataset("test", cifar_dir, 100)) == 1017

    def first_batches(seed, n, skip=0):
        ds = problem.dataset("train", cifar_dir, 16, shuffle=True, repeat=True, seed=seed, skip_batches=skip)
        return [b["targets"].numpy() for _, b in zip(range(n), ds)]

    a, b = first_batches(1, 4), first_batches(1, 4)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], first_batches(2, 1)[0])
    np.testing.assert_array_equal(first_batches(1, 1, skip=3)[0], a[3])  # resumption sees the same batches


def test_sharded_input_pipelines_are_disjoint(builtins, cifar_dir):
    import tensorflow as tf

    problem = builtins.problem("image_cifar10")
    shards = []
    for i in range(2):
        ctx = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=i)
        shards.append(np.concatenate([b["targets"].numpy().reshape(len(b["targets"]), -1)
                                      for b in problem.dataset("test", cifar_dir, 64, input_context=ctx)]))
    a, b = ({x.tobytes() for x in shard} for shard in shards)
    assert len(shards[0]) + len(shards[1]) == 1017 and len(a) + len(b) == 1017 and not (a & b)


def test_img2img_cifar10_inputs_are_rounded_block_means(builtins, cifar_dir):
    batch = next(iter(builtins.problem("img2img_cifar10").dataset("test", cifar_dir, 16)))
    targets, inputs = batch["targets"].numpy(), batch["inputs"].numpy()
    assert inputs.shape == (16, 8, 8, 3) and inputs.dtype == np.uint8 and targets.shape == (16, 32, 32, 3)
    block_means = targets.reshape(16, 8, 4, 8, 4, 3).astype(np.float64).mean(axis=(2, 4))
    assert np.abs(inputs - block_means).max() <= 0.5 + 1e-3
    not_a_tie = np.abs(block_means - np.floor(block_means) - 0.5) > 1e-3  # round-half cases may go either way
    np.testing.assert_array_equal(inputs[not_a_tie], np.round(block_means[not_a_tie]).astype(np.uint8))
