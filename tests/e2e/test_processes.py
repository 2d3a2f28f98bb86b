"""Where the process is the point: the installed console scripts, signals and hard kills, the run lock across
processes, a process that must end promptly after a data error, and a fresh process resolving a remembered --usr_dir.
Every process is bounded by a timeout and ends by itself."""
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest
import tensorflow as tf

from conftest import REPO, SHARED_RUN_OVERRIDES, TINY_OVERRIDES
from helpers.commands import command
from helpers.usr import save_run_naming, usr_module
from imgtf.train import run_dir, run_lock

COMMANDS = ["trainer", "datagen", "decoder", "exporter", "average"]


@pytest.mark.parametrize("name", COMMANDS)
def test_console_scripts_are_installed_and_exit_with_their_status(name, tmp_path):
    """Each `imgtf-<name>` on PATH: --help exits 0; a bad flag exits 1 with one line saying so, no traceback."""
    script = shutil.which(f"imgtf-{name}", path=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    assert script, f"imgtf-{name} is not installed (pip install -e .)"
    helped = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert helped.returncode == 0 and f"imgtf-{name}" in helped.stdout
    bad = subprocess.run([script, "--no_such_flag=1"], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert bad.returncode == 1 and "no_such_flag" in bad.stderr and "Traceback" not in bad.stderr


def trainer_args(output_dir, data_dir, steps, every, extra=()):
    """The tiny Image Transformer on the 8x8 image folder (conftest.cifar_folder): the process, not the model, is
    tested."""
    return ["--problem=image_folder", "--problem_options=image_size=8", "--model=image_transformer",
            "--hparams_set=imagetransformer_cifar10_tiny", f"--hparams={SHARED_RUN_OVERRIDES}",
            f"--data_dir={data_dir}", f"--output_dir={output_dir}", f"--train_steps={steps}",
            f"--checkpoint_every_steps={every}", "--log_every_steps=1", "--schedule=train", *extra]


def trainer_process(output_dir, data_dir, steps, every, extra=()):
    return subprocess.Popen([sys.executable, "-m", "imgtf.commands.trainer",
                             *trainer_args(output_dir, data_dir, steps, every, extra)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)


def wait_for_step(proc, step, timeout=300, log=None):
    """Read the trainer's log until it reports `step` (or more), keeping the lines read in `log`; returns the step."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = proc.stderr.readline()
        if log is not None:
            log.append(line)
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


def test_a_second_trainer_is_refused_a_hard_kill_loses_only_unsaved_steps_and_sigterm_saves_every_step(
        builtins, cifar_folder, tmp_path):
    """While a trainer process runs, a second trainer on its run directory (here, in this process) is refused and
    touches nothing; after the first is killed (SIGKILL: no chance to save), its lock is gone with it and a rerun
    resumes from its newest checkpoint; that rerun, stopped by SIGTERM, saves every step it did before exiting 143
    with what to do."""
    first = trainer_process(tmp_path, cifar_folder, 10000, 5)
    try:
        wait_for_step(first, 2)
        before = sorted(os.listdir(tmp_path))
        # the second trainer: imgtf-trainer's main in this process (the lock's holder is the other process)
        err = command("trainer", *trainer_args(tmp_path, cifar_folder, 10000, 1, extra=["--random_seed=3"]),
                      expect=1).stderr
        assert f"in use by another imgtf process (pid {first.pid} on host" in err
        assert "Restored" not in err and "step 1/" not in err
        assert first.poll() is None  # the live run goes on
        # at most the first trainer's checkpoints (every 5 steps), one perhaps still being written (its _temp folder)
        new = set(os.listdir(tmp_path)) - set(before)
        assert all(re.fullmatch(r"ckpt-\d*[05](\.index|\.data-.*|_temp)|checkpoint", name) for name in new), sorted(new)
        seen = wait_for_step(first, latest_step(tmp_path) + 8)  # a line written after now: the log is caught up
        first.kill()
        first.communicate(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
    saved = latest_step(tmp_path)
    assert seen - 5 <= saved <= seen + 1 and saved % 5 == 0
    assert run_lock.acquire(str(tmp_path)) is not None  # the lock died with its holder
    run_lock.release(str(tmp_path))

    steps = saved + 30
    rerun, log = trainer_process(tmp_path, cifar_folder, steps, 1000), []
    try:
        seen = wait_for_step(rerun, saved + 3, log=log)
        rerun.send_signal(signal.SIGTERM)
        _, err = rerun.communicate(timeout=120)
    finally:
        if rerun.poll() is None:
            rerun.kill()
    assert f"Resuming at step {saved} of {steps}" in "".join(log)  # from the hard kill's newest checkpoint
    assert rerun.returncode == 143, err[-2000:]
    assert "rerun the same command to resume" in err
    stopped = latest_step(tmp_path)
    assert seen <= stopped < steps  # the checkpoint holds every step done before the signal
    from imgtf.train.trainer import Trainer

    # and a rerun resumes there (restored here without training: test_trainer.py's resume test shows a resumed run
    # finishing the same steps as an uninterrupted one)
    assert Trainer(run_dir.resolve(str(tmp_path)), str(tmp_path), cifar_folder).restore() == stopped


def test_lock_refuses_a_second_holder_across_processes(tmp_path):
    run_lock.acquire(str(tmp_path))
    try:
        code = ("import sys; from imgtf.train import run_lock\ntry:\n    run_lock.acquire(sys.argv[1])\n"
                "except run_lock.RunLockedError as e:\n    print(e); sys.exit(3)")
        other = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True,
                               cwd=REPO, timeout=60)
        assert other.returncode == 3 and f"pid {os.getpid()}" in other.stdout
    finally:
        run_lock.release(str(tmp_path))


def test_trainer_stops_promptly_on_a_garbled_file(celeba_dir, tmp_path):
    """The error names the file and the process ends (it used to hang, now and then, in tf.data's iterator
    destructor after printing it): the console entry ends the process without the interpreter's finalisers."""
    folder = tmp_path / "images"
    for split in ("train", "test"):
        (folder / split).mkdir(parents=True)
        for name in sorted(os.listdir(os.path.join(celeba_dir, "img_align_celeba")))[:4]:
            shutil.copy(os.path.join(celeba_dir, "img_align_celeba", name), folder / split)
    (folder / "train" / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    result = subprocess.run(
        [sys.executable, "-m", "imgtf.commands.trainer", "--problem=image_folder", "--model=image_transformer",
         "--hparams_set=imagetransformer_cifar10_tiny", f"--hparams={TINY_OVERRIDES}",
         "--problem_options=image_size=16", f"--data_dir={folder}", f"--output_dir={tmp_path / 'run'}",
         "--train_steps=20", "--schedule=train"], capture_output=True, text=True, timeout=180, cwd=REPO)
    assert result.returncode == 1 and "bad.jpg: cannot decode image" in result.stderr
    assert "Traceback" not in result.stderr




def test_a_fresh_process_imports_the_usr_dir_a_run_remembers(tmp_path, builtins):
    """Later commands on a run made with --usr_dir import it themselves (from hparams.json) while its files are those
    the user imported; if it has moved, the error says which flag to pass."""
    from imgtf import trusted_code

    usr = tmp_path / "usr"
    usr.mkdir()
    (usr / "mine.py").write_text(usr_module("RememberedCifar", "remembered_set"))
    builtins.import_usr_dir(str(usr))
    trusted_code.remember(str(usr))  # as imgtf-trainer --usr_dir=... does
    save_run_naming(builtins, usr, tmp_path / "run", "RememberedCifar", "remembered_set")
    # One fresh process, both cases: the run's usr_dir moved away (the error names the flag), then back (imported)
    code = ("import os, sys; from imgtf import catalog; from imgtf.train import run_dir; catalog.load_builtins()\n"
            "os.rename(sys.argv[2], sys.argv[3])\n"
            "try:\n    run_dir.resolve(sys.argv[1]); sys.exit(2)\n"
            "except run_dir.RunDirError as e:\n    print(e)\n"
            "os.rename(sys.argv[3], sys.argv[2])\n"
            "s = run_dir.resolve(sys.argv[1]); print('FOUND', s.make_problem().name, s.hparams.hidden_size)")
    fresh = subprocess.run([sys.executable, "-c", code, str(tmp_path / "run"), str(usr), str(tmp_path / "moved")],
                           capture_output=True, text=True, timeout=120, cwd=REPO)
    assert fresh.returncode == 0, fresh.stderr[-2000:]
    lost, found = fresh.stdout.split("FOUND")
    assert found.split() == ["remembered_cifar", "32"]
    assert f"created with --usr_dir={usr}" in lost
    assert "problem 'remembered_cifar', hparams set 'remembered_set' come from it. Pass --usr_dir=" in lost
