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


def test_a_checkpoint_deleted_while_it_is_read_sends_the_reader_to_the_newer_ones(trained_run, tmp_path, monkeypatch,
                                                                                   caplog):
    """A reader beside a live trainer reads the newest checkpoint's object graph, then the trainer (keeping few
    checkpoints) deletes its files before the values are read: the reader lists again and restores the newest, with
    fresh objects (a failed restore leaves TensorFlow's restore state tied to the deleted files) and no warning of a
    damaged checkpoint."""
    import shutil

    from imgtf import load_run
    from imgtf.train import checkpoints
    from tensorflow.python.training import py_checkpoint_reader

    run = shutil.copytree(trained_run("cifar")[0], tmp_path / "run")
    newest = checkpoints.newest_step(run)
    for name in os.listdir(run):  # the trainer's next save, not yet in the index
        if name.startswith(f"ckpt-{newest}."):
            shutil.copy(run / name, run / name.replace(f"ckpt-{newest}.", "ckpt-99."))
    real_reader = py_checkpoint_reader.NewCheckpointReader

    class RotatedAfterTheGraphIsRead:
        def __init__(self, path):
            self.reader = real_reader(path)

        def get_tensor(self, key):
            value = self.reader.get_tensor(key)
            for name in tf.io.gfile.glob(os.path.join(run, "ckpt-99.*")):
                os.remove(name)
            return value

        def __getattr__(self, name):
            return getattr(self.reader, name)

    monkeypatch.setattr(py_checkpoint_reader, "NewCheckpointReader", lambda path: (
        RotatedAfterTheGraphIsRead(path) if path.endswith("ckpt-99") else real_reader(path)))
    assert load_run(str(run)).checkpoint.endswith(f"ckpt-{newest}")
    assert not os.path.exists(run / "ckpt-99.index") and "cannot restore" not in caplog.text
