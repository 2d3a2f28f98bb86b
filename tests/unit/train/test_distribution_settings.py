"""Precision, XLA and strategy choices in one process (strategies needing logical devices or several workers run in
real processes: tests/e2e/test_distribution.py)."""
import os

import numpy as np
import pytest
import tensorflow as tf

from conftest import TINY_OVERRIDES
from imgtf.train import run_dir


@pytest.mark.parametrize("precision", ["bfloat16", "float16"])
def test_mixed_precision_keeps_the_likelihood_in_float32(builtins, cifar_dir, tmp_path, precision):
    from imgtf.train.distribution import set_precision
    from imgtf.train.trainer import Trainer

    spec = run_dir.resolve(str(tmp_path), "image_cifar10", "image_transformer", "imagetransformer_cifar10_tiny",
                           TINY_OVERRIDES)
    reference = Trainer(spec, str(tmp_path / "f32"), cifar_dir, seed=2)
    batch = next(iter(reference.problem.dataset("test", cifar_dir, 4)))
    expected = float(-tf.reduce_mean(reference.model.log_prob(batch)))
    try:
        set_precision(precision)
        trainer = Trainer(spec, str(tmp_path / precision), cifar_dir, seed=2, precision=precision)
        params = trainer.model(batch)
        assert params.dtype == tf.float32 and trainer.model.decoder[0].ffn_in.compute_dtype == precision
        got = float(-tf.reduce_mean(trainer.model.log_prob(batch)))
        assert got == pytest.approx(expected, rel=0.02)
        losses = []
        trainer.train(3, on_step=lambda step, loss: losses.append(loss))
        assert all(np.isfinite(losses))
    finally:
        set_precision("float32")


def test_xla_training_step_matches_the_plain_graph(builtins, cifar_dir, tmp_path):
    from imgtf.train.trainer import Trainer

    spec = run_dir.resolve(str(tmp_path), "image_cifar10", "image_transformer", "imagetransformer_cifar10_tiny",
                           TINY_OVERRIDES)
    losses = {}
    for xla in (False, True):
        trainer = Trainer(spec, str(tmp_path / str(xla)), cifar_dir, seed=4, xla=xla)
        losses[xla] = []
        trainer.train(2, on_step=lambda step, loss: losses[xla].append(loss))
        assert trainer.xla == xla  # compiled (no fallback needed on one device)
    np.testing.assert_allclose(losses[True], losses[False], rtol=1e-4)


def test_xla_auto_compiles_on_accelerators_only():
    """--xla=auto: XLA for GPU and TPU replicas, not for a CPU (where it measured slower: docs/benchmarks.md)."""
    from imgtf.train.distribution import DistributionError, use_xla

    class Strategy:  # only the devices matter
        def __init__(self, *devices):
            self.extended = type("Extended", (), {"worker_devices": devices})()

    cpu, gpus = Strategy("/job:localhost/replica:0/task:0/device:CPU:0"), Strategy("/device:GPU:0", "/device:GPU:1")
    assert use_xla("auto", cpu) is False and use_xla("auto", gpus) is True
    assert use_xla("auto", tf.distribute.get_strategy()) is False  # this machine: a CPU
    assert use_xla("on", cpu) is True and use_xla("off", gpus) is False and use_xla(True, cpu) is True
    with pytest.raises(DistributionError, match="--xla must be one of auto, on, off; got 'yes'"):
        use_xla("yes", cpu)


def test_strategy_errors_are_clear():
    from imgtf.train.distribution import DistributionError, make_strategy

    with pytest.raises(DistributionError, match="needs the TF_CONFIG"):
        old = os.environ.pop("TF_CONFIG", None)
        try:
            make_strategy("multi_worker")
        finally:
            if old is not None:
                os.environ["TF_CONFIG"] = old
    with pytest.raises(DistributionError, match="needs --tpu"):
        make_strategy("tpu")
