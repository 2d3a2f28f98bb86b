"""Checkpoints: a damaged newest one falls back to the previous, a lost index is rebuilt, and relative run directories
resume and average."""
import os

import tensorflow as tf

from conftest import TINY_OVERRIDES
from helpers.commands import command
from imgtf.train import run_dir


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


def latest_step(directory):
    path = tf.train.latest_checkpoint(str(directory))
    return int(path.rsplit("-", 1)[1]) if path else 0


def test_lost_checkpoint_index_is_rebuilt_not_restarted_from_zero(builtins, cifar_dir, tmp_path):
    from imgtf.train.trainer import Trainer

    spec = run_dir.resolve(str(tmp_path), "image_cifar10", "image_transformer", "imagetransformer_cifar10_tiny",
                           TINY_OVERRIDES)
    run_dir.save(spec, str(tmp_path))
    Trainer(spec, str(tmp_path), cifar_dir).train(4, checkpoint_every=2)
    os.remove(tmp_path / "checkpoint")  # a partial copy of the run, a sync tool
    err = command("trainer", f"--output_dir={tmp_path}", f"--data_dir={cifar_dir}", "--train_steps=6",
                  "--schedule=train", "--log_every_steps=1").stderr
    assert "rebuilt it from the 2 checkpoint files there (newest ckpt-4)" in err
    assert "Resuming at step 4 of 6" in err and latest_step(tmp_path) == 6
    state = tf.train.get_checkpoint_state(str(tmp_path))
    assert [os.path.basename(p) for p in state.all_model_checkpoint_paths] == ["ckpt-2", "ckpt-4", "ckpt-6"]
    with open(tmp_path / "checkpoint", "w") as f:  # a damaged index file: rebuilt the same way
        f.write("\x00garbage{")
    assert Trainer(spec, str(tmp_path), cifar_dir).restore() == 6


def test_a_checkpoint_deleted_while_it_is_read_sends_the_reader_to_the_newer_ones(trained_run, monkeypatch, caplog):
    """A reader beside a live trainer lists the run, then the trainer (keeping few checkpoints) deletes what was
    listed: the reader lists again and restores the newest, with no warning of a damaged checkpoint."""
    from imgtf import load_run
    from imgtf.train import checkpoints

    run, _ = trained_run("cifar")
    real, calls = checkpoints.newest_first, []

    def listed_before_the_trainer_rotated(output_dir):
        calls.append(output_dir)
        gone = os.path.join(output_dir, "ckpt-99")  # listed, then deleted by the trainer before it was read
        return [gone] if len(calls) == 1 else real(output_dir)

    monkeypatch.setattr(checkpoints, "newest_first", listed_before_the_trainer_rotated)
    assert load_run(run).checkpoint.endswith(f"ckpt-{checkpoints.newest_step(run)}")
    assert len(calls) == 3 and "cannot restore" not in caplog.text  # (the third: newest_step, just above)
