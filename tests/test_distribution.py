"""Scale-out and robustness: tf.distribute strategies on this CPU, preemption, crashes, precision, XLA.

Strategies that need logical devices or several workers run in subprocesses (TensorFlow fixes its devices
at start-up); every subprocess is bounded by a timeout and ends by itself."""
import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from conftest import REPO, TINY_OVERRIDES
from imgtf.train import run_dir

# Adam with a large epsilon moves weights in proportion to the gradient, so equal gradients <=> equal weights
LINEAR_ADAM = ",optimizer_adam_epsilon=1.0,learning_rate_schedule=constant,learning_rate=0.5"

MIRRORED_SCRIPT = r'''
import json, sys
import numpy as np
import imgtf
from imgtf.train import distribution
distribution.split_cpu(2)
import tensorflow as tf
from imgtf import catalog, registry
from imgtf.train import run_dir
from imgtf.train.trainer import Trainer
catalog.load_builtins()
cifar, out, overrides = sys.argv[1:4]

def train(strategy, per_replica, directory):
    spec = run_dir.resolve(directory, "image_cifar10", "image_transformer", "imagetransformer_cifar10_tiny",
                           overrides + f",batch_size={per_replica}")
    trainer = Trainer(spec, directory, cifar, strategy=strategy, seed=1)
    initial = [w.numpy().copy() for w in trainer.model.trainable_weights]
    trainer.train(2, checkpoint_every=10**9, log_every=10**9)
    return initial, [w.numpy() for w in trainer.model.trainable_weights], trainer.strategy.num_replicas_in_sync

init_m, mirrored, replicas = train(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]), 2, out + "/mirrored")
init_s, single, _ = train(tf.distribute.OneDeviceStrategy("/cpu:0"), 4, out + "/single")
print(json.dumps({"replicas": replicas,
                  "init_diff": max(float(np.abs(a - b).max()) for a, b in zip(init_m, init_s)),
                  "diff": max(float(np.abs(a - b).max()) for a, b in zip(mirrored, single)),
                  "moved": max(float(np.abs(a - b).max()) for a, b in zip(init_s, single))}))
'''


def run_python(code, *args, env=None, timeout=600):
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=timeout,
                            cwd=REPO, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_mirrored_over_two_cpu_devices_equals_one_device_on_the_same_global_batch(cifar_dir, tmp_path):
    out = run_python(MIRRORED_SCRIPT, cifar_dir, str(tmp_path), TINY_OVERRIDES + LINEAR_ADAM)
    assert out["replicas"] == 2 and out["init_diff"] == 0.0
    assert out["moved"] > 1e-3  # the steps really changed the weights ...
    assert out["diff"] < 1e-5  # ... identically, whether the batch was split over 2 replicas or not


WORKER_SCRIPT = r'''
import json, os, sys
import numpy as np
import imgtf
import tensorflow as tf
from imgtf import catalog, registry
from imgtf.train import run_dir
from imgtf.train.distribution import make_strategy
from imgtf.train.trainer import Trainer
catalog.load_builtins()
cifar, out, overrides, index = sys.argv[1:5]
strategy = make_strategy("multi_worker")
spec = run_dir.resolve(out, "image_cifar10", "image_transformer", "imagetransformer_cifar10_tiny", overrides)
trainer = Trainer(spec, out, cifar, strategy=strategy, seed=1)
trainer.train(3, checkpoint_every=2, log_every=10**9)
np.savez(os.path.join(out, f"weights_{index}.npz"), *[w.numpy() for w in trainer.model.trainable_weights])
print(json.dumps({"replicas": strategy.num_replicas_in_sync, "chief": trainer.chief,
                  "global_batch": trainer.global_batch_size}))
'''


def free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_multi_worker_mirrored_with_two_local_workers(cifar_dir, tmp_path):
    workers = [f"127.0.0.1:{p}" for p in free_ports(2)]
    procs = []
    for index in range(2):
        env = dict(os.environ, TF_CONFIG=json.dumps({"cluster": {"worker": workers},
                                                     "task": {"type": "worker", "index": index}}))
        procs.append(subprocess.Popen([sys.executable, "-c", WORKER_SCRIPT, cifar_dir, str(tmp_path),
                                       TINY_OVERRIDES, str(index)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True, cwd=REPO, env=env))
    outputs = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=600)
            assert proc.returncode == 0, err[-3000:]
            outputs.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    assert [o["chief"] for o in outputs] == [True, False]
    assert all(o["replicas"] == 2 and o["global_batch"] == 8 for o in outputs)
    a, b = np.load(tmp_path / "weights_0.npz"), np.load(tmp_path / "weights_1.npz")
    for key in a.files:
        np.testing.assert_array_equal(a[key], b[key])
    assert tf.train.latest_checkpoint(str(tmp_path)).endswith("ckpt-3")  # the chief wrote the checkpoints
    assert not [d for d in os.listdir(tmp_path) if d.startswith(".worker_")]  # scratch saves cleaned up


def trainer_process(output_dir, data_dir, steps, every, extra=()):
    return subprocess.Popen(
        [sys.executable, "-m", "imgtf.commands.trainer", "--problem=image_cifar10", "--model=image_transformer",
         "--hparams_set=imagetransformer_cifar10_tiny", f"--hparams={TINY_OVERRIDES}", f"--data_dir={data_dir}",
         f"--output_dir={output_dir}", f"--train_steps={steps}", f"--checkpoint_every_steps={every}",
         "--log_every_steps=1", "--schedule=train", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)


def wait_for_step(proc, step, timeout=300):
    """Read the trainer's log until it reports `step` (or more); returns the step seen."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = proc.stderr.readline()
        if not line and proc.poll() is not None:
            raise AssertionError("trainer exited early")
        if "| loss" in line and line.split("step ")[1].split("/")[0].isdigit():
            seen = int(line.split("step ")[1].split("/")[0])
            if seen >= step:
                return seen
    proc.kill()
    raise AssertionError("trainer did not reach the step in time")


def latest_step(directory):
    path = tf.train.latest_checkpoint(str(directory))
    return int(path.rsplit("-", 1)[1]) if path else 0


def test_sigterm_saves_then_rerun_finishes_the_same_number_of_steps(cifar_dir, tmp_path):
    proc = trainer_process(tmp_path, cifar_dir, 60, 1000)
    try:
        seen = wait_for_step(proc, 5)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err[-2000:]
    assert "rerun the same command to resume" in err
    stopped = latest_step(tmp_path)
    assert seen <= stopped < 60  # the checkpoint holds every step done before the signal
    rerun = trainer_process(tmp_path, cifar_dir, 60, 1000)
    out, err = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, err[-2000:]
    assert f"Resuming at step {stopped} of 60" in err and latest_step(tmp_path) == 60


def test_hard_kill_loses_at_most_the_steps_since_the_last_checkpoint(cifar_dir, tmp_path):
    proc = trainer_process(tmp_path, cifar_dir, 10000, 5)
    try:
        seen = wait_for_step(proc, 13)
        proc.kill()  # SIGKILL: no chance to save
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    saved = latest_step(tmp_path)
    assert seen - 5 <= saved <= seen + 1 and saved % 5 == 0
    rerun = trainer_process(tmp_path, cifar_dir, saved + 3, 5)
    _, err = rerun.communicate(timeout=600)
    assert rerun.returncode == 0 and f"Resuming at step {saved}" in err and latest_step(tmp_path) == saved + 3


def test_damaged_newest_checkpoint_falls_back_to_the_previous(builtins, cifar_dir, tmp_path, caplog):
    from imgtf.train.trainer import Trainer

    spec = run_dir.resolve(str(tmp_path), "image_cifar10", "image_transformer", "imagetransformer_cifar10_tiny",
                           TINY_OVERRIDES)
    Trainer(spec, str(tmp_path), cifar_dir).train(4, checkpoint_every=2)
    data = [f for f in os.listdir(tmp_path) if f.startswith("ckpt-4.data")][0]
    with open(tmp_path / data, "r+b") as f:  # as if the machine died while writing it
        f.truncate(10)
    assert Trainer(spec, str(tmp_path), cifar_dir).restore() == 2
    assert "cannot restore" in caplog.text and "ckpt-4" in caplog.text


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


def test_resume_and_average_with_a_relative_output_dir(builtins, cifar_dir, tmp_path, monkeypatch):
    """Checkpoint paths must work when --output_dir is relative (as in the README's commands)."""
    from imgtf.train.averaging import average_checkpoints
    from imgtf.train.trainer import Trainer

    monkeypatch.chdir(tmp_path)
    spec = run_dir.resolve("rel/run", "image_cifar10", "image_transformer", "imagetransformer_cifar10_tiny",
                           TINY_OVERRIDES)
    run_dir.save(spec, "rel/run")
    Trainer(spec, "rel/run", cifar_dir).train(2, checkpoint_every=1)
    assert Trainer(spec, "rel/run", cifar_dir).restore() == 2
    paths, saved = average_checkpoints("rel/run", "rel/avg", num_last=2)
    assert len(paths) == 2 and os.path.exists(saved + ".index")
