"""Binarized MNIST through the commands, as the issue's user runs it: imgtf-trainer on the official .amat files
reports nats per image (bits/dim beside it) on stdout, in its log and metrics.jsonl; the same checkpoint evaluated
from a tfds copy of the same digits gives the same figure, and trains on from it; the decoder reports its samples'
likelihood in nats."""
import json
import re

import numpy as np
import pytest

from helpers.commands import command
from imgtf.data import amat
from imgtf.train.metrics import read_metrics

# pixelcnn_binarized_mnist's structure, shrunk: 2 residual blocks of 8 (stream 16), head 16, batch 8
TINY = "num_layers=2,hidden_size=8,output_size=16,batch_size=8,eval_batch_size=25"


@pytest.fixture(scope="module")
def mnist_run(tmp_path_factory, mnist_dir):
    out = tmp_path_factory.mktemp("mnist_run") / "run"
    result = command("trainer", "--problem=image_binarized_mnist", "--hparams_set=pixelcnn_binarized_mnist",
                     f"--hparams={TINY}", f"--data_dir={mnist_dir}", f"--output_dir={out}", "--train_steps=4",
                     "--log_every_steps=2")
    return out, result


def test_trainer_reports_nats_per_image_from_the_official_files(mnist_run):
    out, result = mnist_run
    entry = read_metrics(str(out))[0]  # the evaluation at step 4 (tests below add others)
    assert entry["reported"] == "nats_per_image" and entry["num_images"] == 50 and entry["split"] == "test"
    assert entry["binarization"] == "fixed"
    assert entry["nats_per_image"] == pytest.approx(entry["bits_per_dim"] * 784 * np.log(2), rel=1e-6)
    assert 0 < entry["nats_per_image"] < 784 * np.log(2) * 1.2
    assert result.stdout.startswith(
        f"nats_per_image {entry['nats_per_image']:.2f} +- {entry['nats_per_image_se']:.2f} (95% CI "
        f"{entry['nats_per_image_ci95_low']:.2f}-{entry['nats_per_image_ci95_high']:.2f}; {entry['bits_per_dim']:.4f} "
        "bits/dim) on test (50 images)")
    assert re.search(r"nats_per_image \d+\.\d\d \(\d\.\d{4} bits/dim\)", result.stderr)
    assert "PARTIAL copy: 100 of 50000 images" in result.stderr


def test_the_same_digits_from_tfds_evaluate_alike_and_train(mnist_run, mnist_dir, tmp_path, monkeypatch):
    """tfds binarized_mnist (mocked with the fixture's own digits: offline) is read when no .amat files are there."""
    import tensorflow as tf
    import tensorflow_datasets as tfds

    out, _ = mnist_run
    (tmp_path / "binarized_mnist").mkdir()
    official = read_metrics(str(out))[0]

    def as_dataset(builder, split, *args, **kwargs):
        return tf.data.Dataset.from_tensor_slices({"image": amat.read_split(mnist_dir, str(split)).images})

    with tfds.testing.mock_data(as_dataset_fn=as_dataset):
        monkeypatch.setattr(tfds.core.DatasetBuilder, "is_prepared", lambda self: True)
        result = command("trainer", f"--output_dir={out}", f"--data_dir={tmp_path}", "--schedule=eval")
        entry = read_metrics(str(out))[-1]
        assert entry["num_images"] == 50
        assert entry["nats_per_image"] == pytest.approx(official["nats_per_image"], abs=1e-3)
        assert result.stdout.startswith("nats_per_image ")
        command("trainer", f"--output_dir={out}", f"--data_dir={tmp_path}", "--train_steps=6")  # trains from tfds
    entry = read_metrics(str(out))[-1]
    assert entry["step"] == 6 and entry["num_images"] == 50 and 0 < entry["nats_per_image"] < 700


def test_decoder_reports_its_samples_likelihood_in_nats(mnist_run, tmp_path):
    out, _ = mnist_run
    result = command("decoder", f"--output_dir={out}", f"--decode_dir={tmp_path}", "--num_samples=4",
                     "--batch_size=4")
    summary = json.load(open(tmp_path / "decode.json"))
    samples = np.load(tmp_path / "samples.npy")
    assert samples.shape == (4, 28, 28, 1) and set(np.unique(samples)) <= {0, 1} and summary["num_levels"] == 2
    assert summary["samples_nats_per_image"] == pytest.approx(summary["samples_bits_per_dim"] * 784 * np.log(2))
    assert f"the model gives them nats_per_image {summary['samples_nats_per_image']:.2f} (" in result.stdout
