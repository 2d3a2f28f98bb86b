"""Faults of the machine around a run, with real trainer processes: a read-only --data_dir, a decoder and an exporter
reading a run while it trains, its disk filling up, and a checkpoint torn after it was listed. The disks are small
tmpfs mounts (the test is skipped where this process may not mount one)."""
import contextlib
import errno
import os
import re
import subprocess
import sys
import uuid

import pytest

from conftest import REPO, SHARED_RUN_OVERRIDES
from helpers.commands import command
from test_processes import latest_step, wait_for_step


@contextlib.contextmanager
def tmpfs(path, size_kb):
    """A tmpfs of `size_kb` KiB mounted at `path` (unmounted afterwards); skips the test where mounting is refused."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", f"imgtf-{uuid.uuid4().hex[:8]}",
                              str(path)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip() or 'not permitted'})")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def remount(path, options):
    subprocess.run(["mount", "-o", f"remount,{options}", str(path)], check=True, capture_output=True)


def trainer(output_dir, data_dir, *flags, problem, overrides):
    return subprocess.Popen(
        [sys.executable, "-m", "imgtf.commands.trainer", f"--problem={problem}",
         "--hparams_set=imagetransformer_cifar10_tiny", f"--hparams={overrides}", f"--data_dir={data_dir}",
         f"--output_dir={output_dir}", "--checkpoint_every_steps=1", "--log_every_steps=1", "--schedule=train",
         *flags], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)


def fill(disk):
    """Fill `disk` up with a file (written until the system says it is full: a live trainer writes there too)."""
    with open(disk / "filler", "wb", buffering=0) as f:
        with pytest.raises(OSError) as full:
            while True:
                f.write(b"\0" * 65536)
    assert full.value.errno == errno.ENOSPC


def test_faults_around_a_live_run(cifar_folder, tmp_path):
    """One run through the faults a machine brings, with real trainer processes:
    - it trains from a --data_dir it cannot write (and imgtf-datagen, which must write there, says so);
    - while it trains, saving a checkpoint every step and deleting all but the newest two, the decoder and the
      exporter each restore a complete checkpoint of the live run, and the trainer goes on;
    - its disk fills up: it stops at the first save that does not fit, saying so, with the partial checkpoint removed
      and the newest complete one restorable;
    - that checkpoint is then torn (its data file cut in half, as an interrupted write or copy leaves it); with space
      again, a rerun (imgtf-trainer's main in this process) skips it with a warning, resumes from the one before and
      finishes."""
    import shutil

    from imgtf import load_run

    with tmpfs(tmp_path / "data", 64 * 1024) as data, tmpfs(tmp_path / "disk", 16 * 1024) as disk:
        shutil.copytree(cifar_folder, data, dirs_exist_ok=True)
        remount(data, "ro")
        run = disk / "run"
        # a line every 5 steps: the log is read only at the start, and a full pipe would pause the trainer
        flags = ["--problem_options=image_size=8", "--keep_checkpoints=2", "--log_every_steps=5"]
        live = trainer(run, data, "--train_steps=100000", *flags, problem="image_folder",
                       overrides=SHARED_RUN_OVERRIDES)
        try:
            wait_for_step(live, 5)
            decoded = command("decoder", f"--output_dir={run}", f"--decode_dir={tmp_path / 'decoded'}",
                              "--num_samples=1", "--batch_size=1", "--noxla")
            assert "1 images (unconditional)" in decoded.stdout
            command("exporter", f"--output_dir={run}", f"--export_dir={tmp_path / 'export'}", "--noxla")
            assert os.path.isdir(tmp_path / "export" / "saved_model")
            assert live.poll() is None  # still training
            refused = command("datagen", "--problem=image_folder", "--problem_options=image_size=8",
                              f"--tmp_dir={data}", f"--data_dir={data}", "--splits=test", expect=1)
            assert "Read-only file system" in refused.stderr and "Give --data_dir a writable folder" in refused.stderr
            fill(disk)
            _, err = live.communicate(timeout=300)
        finally:
            if live.poll() is None:
                live.kill()
        assert live.returncode == 1, err[-3000:]
        assert "Traceback" not in err
        stopped = int(err.split("training stopped at step ")[1].split(":")[0])
        newest = latest_step(run)
        assert f"in {run} failed (no space left on device). The newest complete checkpoint is step {newest}; free " \
               "space" in err and newest >= 3
        left = {int(re.match(r"ckpt-(\d+)", name).group(1)) for name in os.listdir(run) if name.startswith("ckpt-")}
        assert max(left) == newest and stopped >= newest  # nothing partial left; the failed save's files removed
        assert load_run(str(run)).checkpoint.endswith(f"ckpt-{newest}")

        data_file = run / f"ckpt-{newest}.data-00000-of-00001"
        os.truncate(data_file, os.path.getsize(data_file) // 2)
        os.remove(disk / "filler")
        # the rerun in this process (what it does to the run is the point, not its process)
        err = command("trainer", f"--output_dir={run}", f"--data_dir={data}", f"--train_steps={newest + 1}",
                      "--checkpoint_every_steps=1", "--schedule=train", *flags).stderr
        assert f"cannot restore {run}/ckpt-{newest}" in err
        assert f"Resuming at step {newest - 1} of {newest + 1}" in err and latest_step(run) == newest + 1
