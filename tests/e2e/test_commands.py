"""The commands called in this process as their console scripts call them (`imgtf.commands.<name>.main(argv)`):
training by name, resuming, refusals before anything is written, --registry_help with a --usr_dir, datagen, and the
multi-scale model through trainer and exporter. (The decoder, exporter and averaging on shared trained runs:
test_decode_export.py; the console scripts as real processes: test_processes.py.)"""
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from conftest import TINY_OVERRIDES
from helpers.commands import command
from helpers.models import smallest
from helpers.usr import usr_module
from imgtf.train.metrics import read_metrics
from imgtf.evaluation.evaluator import Evaluator


def test_trainer_trains_refuses_a_conflict_and_evaluates(cifar_dir, tmp_path):
    out = tmp_path / "run"
    common = [f"--output_dir={out}", f"--data_dir={cifar_dir}"]
    result = command("trainer", "--problem=image_cifar10", "--model=image_transformer",
                     "--hparams_set=imagetransformer_cifar10_tiny", f"--hparams={TINY_OVERRIDES}", "--train_steps=3",
                     "--log_every_steps=1", "--eval_steps=4", *common)
    assert "bits_per_dim" in result.stdout and "step 3/3" in result.stderr
    saved = json.load(open(out / "hparams.json"))
    assert saved["hparams"]["hidden_size"] == 16 and saved["hparams_set"] == "imagetransformer_cifar10_tiny"
    assert os.path.exists(out / "checkpoint") and read_metrics(str(out))[-1]["step"] == 3

    conflict = command("trainer", "--hparams=hidden_size=64", "--train_steps=4", *common, expect=1)
    assert "hidden_size=64 (saved: 16)" in conflict.stderr

    command("trainer", "--schedule=eval", "--eval_steps=2", *common)
    assert read_metrics(str(out))[-1]["num_images"] == 8
    command("trainer", "--train_steps=5", "--eval_steps=1", *common)  # the lock of the first call was released
    assert read_metrics(str(out))[-1]["step"] == 5
    behind = command("trainer", "--train_steps=2", *common, expect=1)  # it restored, then evaluated the whole split
    assert "is at step 5, past --train_steps=2: there is nothing to train" in behind.stderr
    assert len(read_metrics(str(out))) == 3


@pytest.mark.parametrize("flags,message", [
    (["--problem=image_cifar1O"], "Unknown problem 'image_cifar1O'. Did you mean: image_cifar10"),
    (["--hparams=hiden_size=3"], "unknown hparam 'hiden_size'. Did you mean: hidden_size"),
    (["--hparams=hidden_size=big"], "hparam 'hidden_size' expects a int"),
    (["--hparams=batch_size=0,hidden_size=-4"], "hparams out of range: batch_size=0 (must be >= 1); hidden_size=-4"),
    (["--model=pixelcnn"], "does not fit model 'pixelcnn' (no hparam 'first_kernel_size'): it is a set of model "
                           "'image_transformer' (--model=image_transformer)"),
    (["--output_dir=FILE"], "is a file, not a directory"),
    (["--train_steps=many"], "--train_steps"),
    (["--schedule=sometimes"], "--schedule"),
    (["stray"], "unexpected arguments: stray"),
    (["--problem=image_folder", "--problem_options=labels"], "malformed --problem_options entry 'labels'"),
    (["--eval_split=nonsense"], "--eval_split=nonsense: problem 'image_cifar10' has the splits train, test."),
])
def test_trainer_refuses_bad_input_before_writing(tmp_path, flags, message):
    """Refused with one line naming what is wrong (exit 1), before anything is written in the run directory."""
    args = {"--problem": "image_cifar10", "--model": "image_transformer",
            "--hparams_set": "imagetransformer_cifar10_tiny", "--output_dir": str(tmp_path / "run")}
    positional = []
    for flag in flags:
        if "=" not in flag:
            positional.append(flag)
            continue
        key, value = flag.split("=", 1)
        args[key] = value
    if args["--output_dir"] == "FILE":
        args["--output_dir"] = str(tmp_path / "a_file")
        (tmp_path / "a_file").write_text("not a run")
    result = command("trainer", *[f"{k}={v}" for k, v in args.items()], "--train_steps=1", *positional, expect=1)
    assert message in result.stderr and result.stderr.startswith("imgtf-trainer: error: ")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("name", ["trainer", "datagen", "decoder", "exporter", "average"])
def test_every_command_explains_itself_and_names_missing_flags(name, tmp_path):
    helped = command(name, "--help")
    assert f"imgtf-{name}" in helped.stdout and "--usr_dir" in helped.stdout and "registry_help" in helped.stdout
    refused = command(name, expect=1)
    assert "required" in refused.stderr and refused.stderr.startswith(f"imgtf-{name}: error: --")




def test_registry_help_lists_usr_dir_entries(tmp_path, builtins):
    (tmp_path / "mine.py").write_text(usr_module("CliUserCifar", "cli_user_set"))
    try:
        out = command("trainer", "--registry_help", f"--usr_dir={tmp_path}")
    finally:
        builtins.problems.unregister("cli_user_cifar")
        builtins.hparams_sets.unregister("cli_user_set")
    assert "cli_user_cifar" in out.stdout and "cli_user_set" in out.stdout and "image_transformer" in out.stdout


def test_datagen_prepares_a_split_that_training_reads_alone(builtins, cifar_dir, tmp_path):
    result = command("datagen", "--problem=image_cifar10", f"--tmp_dir={cifar_dir}", f"--data_dir={tmp_path}",
                     "--splits=test")
    assert "image_cifar10 test: 1017 examples" in result.stdout
    assert sorted(os.listdir(tmp_path / "image_cifar10")) == ["test.json", "test.label.bin", "test.targets.bin"]
    # evaluating from the prepared arrays alone (no raw CIFAR-10 there), also for part of the split
    from imgtf.train import run_dir
    from imgtf.train.trainer import Trainer

    spec = run_dir.resolve(str(tmp_path / "run"), "image_cifar10", "image_transformer", "imagetransformer_cifar10_tiny",
                           TINY_OVERRIDES)
    trainer = Trainer(spec, str(tmp_path / "run"), str(tmp_path))
    entry = Evaluator.of(trainer).evaluate("test", eval_steps=2)
    assert entry["num_images"] == 8 and entry["whole_split"] is False
    assert trainer.problem.split_size("test", str(tmp_path)) == 1017


def test_decoder_refuses_temperature_zero_before_loading_or_writing(tmp_path):
    result = command("decoder", f"--output_dir={tmp_path / 'none'}", f"--decode_dir={tmp_path / 'd'}",
                     "--temperature=0", expect=1)
    assert "--temperature=0.0: must be a finite number > 0" in result.stderr
    assert not (tmp_path / "d").exists()


def test_multiscale_model_by_name_through_trainer_and_exporter(cifar_folder, tmp_path):
    """The model with the unusual order (the subsampled pixels first), by name, on 8x8 images: the export's bits/dim
    equal the trainer's evaluation. (Its completions: tests/models/test_pixel_rnn.py.)"""
    import keras

    from imgtf.train import run_dir

    run = tmp_path / "run"
    command("trainer", "--problem=image_folder", "--problem_options=image_size=8", "--model=multiscale_pixelrnn",
            "--hparams_set=multiscale_pixelrnn_cifar10_tiny",
            f"--hparams={smallest('multiscale_pixelrnn_cifar10_tiny', 'batch_size=4,eval_batch_size=4')}",
            "--train_steps=2", "--eval_steps=1", f"--output_dir={run}", f"--data_dir={cifar_folder}")
    command("exporter", f"--output_dir={run}", f"--export_dir={tmp_path / 'export'}", "--noxla")
    loaded = tf.saved_model.load(str(tmp_path / "export" / "saved_model"))
    evaluated = read_metrics(str(run))[-1]  # --eval_steps=1 at batch 4: the first 4 test images
    assert evaluated["num_images"] == 4
    problem = run_dir.resolve(str(run)).make_problem(cifar_folder)
    images = next(iter(problem.dataset("test", cifar_folder, 4)))["targets"]
    exported = loaded.signatures["bits_per_dim"](images=images)["bits_per_dim"].numpy()
    assert np.mean(exported) == pytest.approx(evaluated["bits_per_dim"], rel=1e-5)
    assert keras.saving.load_model(str(tmp_path / "export" / "model.keras")).num_units == 8 * 8 * 3
