"""A run directory cannot be corrupted: one writer at a time, checkpoints never silently ignored (real processes)."""
import os
import subprocess
import sys

import tensorflow as tf

from conftest import REPO, TINY_OVERRIDES
from imgtf.train import run_dir, run_lock
from test_distribution import latest_step, trainer_process, wait_for_step


def test_a_second_trainer_on_a_live_run_is_refused_and_touches_nothing(cifar_dir, tmp_path):
    first = trainer_process(tmp_path, cifar_dir, 100000, 1000)
    try:
        wait_for_step(first, 2)
        before = sorted(os.listdir(tmp_path))
        second = trainer_process(tmp_path, cifar_dir, 100000, 1, extra=["--random_seed=3"])
        _, err = second.communicate(timeout=300)
        assert second.returncode == 1, err[-2000:]
        assert f"in use by another imgtf process (pid {first.pid} on host" in err
        assert "Restored" not in err and "step 1/" not in err
        assert sorted(os.listdir(tmp_path)) == before  # no checkpoint, metrics or hparams written
        assert first.poll() is None  # the live run goes on
    finally:
        first.kill()
        first.communicate(timeout=60)
    # the lock dies with its holder, even after kill -9: the run can be resumed at once
    assert run_lock.acquire(str(tmp_path)) is not None
    run_lock.release(str(tmp_path))


def test_lost_checkpoint_index_is_rebuilt_not_restarted_from_zero(builtins, cifar_dir, tmp_path):
    from imgtf.train.trainer import Trainer

    spec = run_dir.resolve(str(tmp_path), "image_cifar10", "image_transformer", "imagetransformer_cifar10_tiny",
                           TINY_OVERRIDES)
    run_dir.save(spec, str(tmp_path))
    Trainer(spec, str(tmp_path), cifar_dir).train(4, checkpoint_every=2)
    os.remove(tmp_path / "checkpoint")  # a partial copy of the run, a sync tool
    proc = trainer_process(tmp_path, cifar_dir, 6, 1000)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-2000:]
    assert "rebuilt it from the 2 checkpoint files there (newest ckpt-4)" in err
    assert "Resuming at step 4 of 6" in err and latest_step(tmp_path) == 6
    state = tf.train.get_checkpoint_state(str(tmp_path))
    assert [os.path.basename(p) for p in state.all_model_checkpoint_paths] == ["ckpt-2", "ckpt-4", "ckpt-6"]
    with open(tmp_path / "checkpoint", "w") as f:  # a damaged index file: rebuilt the same way
        f.write("\x00garbage{")
    assert Trainer(spec, str(tmp_path), cifar_dir).restore() == 6


def test_lock_refuses_a_second_holder_within_and_across_processes(tmp_path):
    run_lock.acquire(str(tmp_path))
    try:
        code = ("import sys; from imgtf.train import run_lock\ntry:\n    run_lock.acquire(sys.argv[1])\n"
                "except run_lock.RunLockedError as e:\n    print(e); sys.exit(3)")
        other = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True,
                               cwd=REPO, timeout=60)
        assert other.returncode == 3 and f"pid {os.getpid()}" in other.stdout
    finally:
        run_lock.release(str(tmp_path))
