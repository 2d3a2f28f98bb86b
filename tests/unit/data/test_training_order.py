"""The training order (imgtf.data.order) and resumption: fresh permutations per epoch, any position reached at once,
input pipelines taking turns, the same order from raw and prepared data, and damaged prepared files refused."""
import logging
import os

import numpy as np
import pytest

from imgtf.data import prepared
from imgtf.errors import CorruptDataError
from imgtf.data.order import shuffled_indices


def first(dataset, n):
    return np.array([int(x) for _, x in zip(range(n), dataset)])


def test_each_epoch_is_a_fresh_permutation_and_the_seed_chooses_them():
    epochs = first(shuffled_indices(10, seed=3), 30).reshape(3, 10)
    for epoch in epochs:
        assert sorted(epoch) == list(range(10))
    assert len({tuple(e) for e in epochs}) == 3
    assert not np.array_equal(first(shuffled_indices(10, seed=4), 10), epochs[0])


def test_any_position_is_reached_without_reading_the_ones_before():
    n = 1017
    np.testing.assert_array_equal(first(shuffled_indices(n, 3, start=5), 20), first(shuffled_indices(n, 3), 25)[5:])
    # a trillion epochs in: reading up to there would never end; the epoch found there is still a permutation
    far = first(shuffled_indices(n, 3, start=10**12 * n), n)
    assert sorted(far) == list(range(n)) and not np.array_equal(far, first(shuffled_indices(n, 3), n))


def test_input_pipelines_take_turns_reading_the_global_order():
    """Two pipelines with blocks of 4 read, between them, the stream one pipeline reads in blocks of 8, and a resumed
    pipeline continues its own part."""
    one = first(shuffled_indices(50, 7, block=8), 48).reshape(6, 8)
    two = [first(shuffled_indices(50, 7, block=4, pipeline=p, num_pipelines=2), 24).reshape(6, 4) for p in (0, 1)]
    np.testing.assert_array_equal(np.concatenate(two, axis=1), one)
    resumed = first(shuffled_indices(50, 7, start=2 * 4, block=4, pipeline=1, num_pipelines=2), 16).reshape(4, 4)
    np.testing.assert_array_equal(resumed, two[1][2:])


def training_batches(problem, data_dir, n, skip=0, batch=16, **kw):
    ds = problem.dataset("test", data_dir, batch, shuffle=True, repeat=True, seed=5, skip_batches=skip,
                         drop_remainder=True, **kw)
    return [b for _, b in zip(range(n), ds)]


@pytest.fixture(scope="module")
def prepared_cifar(builtins, small_cifar_dir, tmp_path_factory):
    from imgtf import registry

    problem = registry.problem("img2img_cifar10")
    out = str(tmp_path_factory.mktemp("prepared"))
    prepared.write(problem, "test", small_cifar_dir, out)
    return problem, out


def test_prepared_data_is_read_in_the_raw_data_order_and_resumes_at_its_position(prepared_cifar, small_cifar_dir):
    import tensorflow as tf

    problem, ready = prepared_cifar
    raw = training_batches(problem, small_cifar_dir, 8)
    fast = training_batches(problem, ready, 8)
    for a, b in zip(raw, fast):
        for key in ("targets", "inputs", "label"):
            np.testing.assert_array_equal(a[key], b[key])
    np.testing.assert_array_equal(training_batches(problem, ready, 1, skip=7)[0]["targets"], fast[7]["targets"])
    # step 10**9 at once: the batch holds the examples the order names there
    far = training_batches(problem, ready, 1, skip=10**9)[0]["targets"].numpy()
    names = first(shuffled_indices(97, 5, start=10**9 * 16), 16)
    everything = np.concatenate([b["targets"].numpy() for b in problem.dataset("test", ready, 97)])
    np.testing.assert_array_equal(far, everything[names])
    # two input pipelines (per-replica batch 8) feed, between them, the single pipeline's batches of 16
    halves = [training_batches(problem, ready, 3, batch=8, input_context=tf.distribute.InputContext(2, p, 2))
              for p in (0, 1)]
    for step in range(3):
        np.testing.assert_array_equal(np.concatenate([halves[0][step]["label"], halves[1][step]["label"]]),
                                      fast[step]["label"])


def test_a_streamed_source_resumes_by_reading_through_and_says_so(builtins, imagenet_dir, caplog):
    from imgtf import registry

    problem = registry.problem("image_imagenet32")  # validation: valid_32x32.tar, read in order only
    caplog.set_level(logging.WARNING, logger="imgtf")
    ds = lambda skip: problem.dataset("validation", imagenet_dir, 8, shuffle=True, repeat=True, seed=1,  # noqa: E731
                                      skip_batches=skip)
    batches = [b["targets"].numpy() for _, b in zip(range(3), ds(0))]
    assert "Resuming" not in caplog.text
    np.testing.assert_array_equal(next(iter(ds(2)))["targets"], batches[2])
    assert "reading and discarding 16 examples" in caplog.text and "imgtf-datagen" in caplog.text


def test_damaged_prepared_files_are_refused_with_what_to_do(prepared_cifar, tmp_path):
    import shutil

    problem, ready = prepared_cifar
    copy = str(tmp_path / "copy")
    shutil.copytree(ready, copy)
    targets = os.path.join(copy, problem.name, "test.targets.bin")
    with open(targets, "r+b") as f:
        f.truncate(os.path.getsize(targets) - 100)  # e.g. a disk that filled up
    with pytest.raises(CorruptDataError, match=r"test.targets.bin holds \d+ bytes, not the 297984 of 97 targets "
                                               r"records.*Run imgtf-datagen again"):
        problem.dataset("test", copy, 4)
    os.remove(targets)
    with pytest.raises(CorruptDataError, match="lists files that are missing .*test.targets.bin.*imgtf-datagen"):
        problem.dataset("test", copy, 4)


def test_preparation_metadata_of_another_layout_is_refused(builtins, tmp_path):
    import json

    from imgtf import registry

    problem = registry.problem("image_cifar10")
    os.makedirs(tmp_path / problem.name)
    with open(prepared.metadata_path(str(tmp_path), problem.name, "test"), "w") as f:
        json.dump({"problem": problem.name, "split": "test", "count": 4, "shapes": {"targets": [32, 32, 3]},
                   "shards": ["test-00000-of-00001.tfrecord"], "options": {}}, f)
    with pytest.raises(CorruptDataError, match="unreadable preparation metadata .*run imgtf-datagen again"):
        problem.dataset("test", str(tmp_path), 4)
