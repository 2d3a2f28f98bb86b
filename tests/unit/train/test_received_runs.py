"""Runs from someone else: a run names code only as a hint. A remembered --usr_dir is imported only while its files
are, byte for byte, those this user imported explicitly here; anything else is refused with the files it would run,
and nothing runs."""
import json
import os
import re

import pytest

from helpers.commands import command
from helpers.usr import save_run_naming, usr_module
from imgtf.train import run_dir

PLANTED = '''
import pathlib
pathlib.Path({marker!r}).write_text("ran")
from imgtf.registry import register_hparams
from imgtf.models.image_transformer.hparams_sets import imagetransformer_cifar10_tiny

@register_hparams
def planted_set():
    return imagetransformer_cifar10_tiny()
'''


def planted_run(run, usr_dir, builtins):
    """A run directory whose hparams.json names the set `planted_set` and `usr_dir` (as given, unresolved)."""
    spec = run_dir.RunSpec("image_cifar10", "image_transformer", "planted_set",
                           builtins.hparams("imagetransformer_cifar10_tiny"))
    spec.usr_dir, spec.usr_dir_path = str(usr_dir), str(usr_dir)
    run_dir.save(spec, str(run))


def test_a_run_naming_code_never_imported_here_is_refused_by_every_command_and_runs_nothing(tmp_path, builtins,
                                                                                            monkeypatch):
    run, marker = tmp_path / "received", tmp_path / "ran.txt"
    plugins = run / "plugins"
    plugins.mkdir(parents=True)
    (plugins / "plugin.py").write_text(PLANTED.format(marker=str(marker)))
    planted_run(run, plugins, builtins)
    for name, args in (("decoder", ["--decode_dir", tmp_path / "d"]), ("exporter", ["--export_dir", tmp_path / "e"]),
                       ("trainer", ["--data_dir", tmp_path, "--train_steps=1"]),
                       ("average", ["--to_dir", tmp_path / "a"])):
        out = command(name, f"--output_dir={run}", *args, expect=1)
        assert "names code to import" in out.stderr and "plugin.py" in out.stderr, (name, out.stderr[-2000:])
        assert f"--usr_dir={plugins.resolve()}" in out.stderr, name
    with pytest.raises(run_dir.RunDirError, match=r"pass usr_dir=\S+plugins to load_run"):
        from imgtf import load_run
        load_run(str(run))
    # "usr_dir": "." would import every *.py of the directory a command runs in
    (tmp_path / "here").mkdir()
    (tmp_path / "here" / "anything.py").write_text(PLANTED.format(marker=str(marker)))
    planted_run(run, ".", builtins)
    monkeypatch.chdir(tmp_path / "here")
    with pytest.raises(run_dir.RunDirError, match="anything.py"):
        run_dir.load(str(run))
    assert not marker.exists() and "planted_set" not in builtins.hparams_sets.names()


def test_an_explicit_usr_dir_is_trusted_until_a_file_changes_and_a_moved_one_is_asked_for(tmp_path, builtins):
    from imgtf import trusted_code

    usr = tmp_path / "usr"
    usr.mkdir()
    (usr / "mine.py").write_text(usr_module("TrustedCifar", "trusted_set"))
    assert not trusted_code.is_trusted(str(usr))
    command("trainer", f"--usr_dir={usr}", "--registry_help")  # the user passes it: remembered
    assert trusted_code.is_trusted(str(usr))
    save_run_naming(builtins, usr, tmp_path / "run", "TrustedCifar", "trusted_set")
    home = json.load(open(os.path.join(trusted_code.home(), trusted_code.TRUST_FILE)))
    assert list(home) == [os.path.realpath(usr)] and "usr_dir_path" in open(tmp_path / "run" / "hparams.json").read()
    (usr / "mine.py").write_text(usr_module("TrustedCifar", "trusted_set") + "\n# edited\n")
    with pytest.raises(run_dir.RunDirError, match=r"mine\.py\), which you have not imported on this machine as it"):
        run_dir.load(str(tmp_path / "run"))
    (usr / "mine.py").write_text(usr_module("TrustedCifar", "trusted_set"))
    (usr / "added.py").write_text("")
    assert not trusted_code.is_trusted(str(usr))
    (usr / "added.py").unlink()
    assert trusted_code.is_trusted(str(usr))
    usr.rename(tmp_path / "moved")
    with pytest.raises(run_dir.RunDirError, match=r"no longer there, and problem 'trusted_cifar', hparams set "
                                                  r"'trusted_set' come from it\. Pass --usr_dir="):
        run_dir.load(str(tmp_path / "run"))


def test_a_copied_run_trains_on_its_own_checkpoints_and_a_moved_one_loads(trained_run, tmp_path, builtins):
    """An index written with absolute paths (as a rebuilt index once was, or as another tool writes it) names the
    original's files: the copy must neither resume from them nor rotate them away, and a moved run must still load."""
    import tensorflow as tf

    from helpers import shared
    from imgtf import load_run
    from imgtf.train import checkpoints
    from imgtf.train.state import RunState

    original = shared.copy(trained_run("cifar")[0], str(tmp_path / "original"))
    before = sorted(os.listdir(original))
    steps = sorted(checkpoints.checkpoint_files(original))
    absolute = [os.path.join(original, f"ckpt-{s}") for s in steps]
    tf.compat.v1.train.update_checkpoint_state(original, absolute[-1], all_model_checkpoint_paths=absolute)
    copy = shared.copy(original, str(tmp_path / "copy"))
    state = RunState(run_dir.load(copy), copy, keep_checkpoints=1)
    assert state.restore() == os.path.join(copy, f"ckpt-{steps[-1]}")
    state.step.assign_add(1)
    state.save()  # keeps one checkpoint: rotates the copy's older ones away, and only the copy's
    assert sorted(os.listdir(original)) == before
    assert sorted(checkpoints.checkpoint_files(copy)) == [steps[-1] + 1]
    assert open(os.path.join(copy, "checkpoint")).read().count(str(tmp_path)) == 0  # relative paths only
    moved = str(tmp_path / "moved")
    os.rename(original, moved)
    assert load_run(moved).checkpoint == os.path.join(moved, f"ckpt-{steps[-1]}")


@pytest.mark.parametrize("planted", ["metrics.jsonl", ".imgtf.lock", "evaluations"])
def test_a_symbolic_link_in_a_run_is_refused_before_anything_is_written(trained_run, tmp_path, planted):
    from helpers import shared

    run_path, data_dir = trained_run("plain")
    run = shared.copy(run_path, str(tmp_path / "run"))
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "victim"
    if planted == "evaluations":
        victim.mkdir()
    else:
        victim.write_text("the user's own file\n")
    target = os.path.join(run, planted)
    if os.path.isdir(target):
        import shutil
        shutil.rmtree(target)
    elif os.path.exists(target):
        os.remove(target)
    os.symlink(victim, target)
    out = command("trainer", f"--output_dir={run}", f"--data_dir={data_dir}", "--schedule=eval", "--eval_steps=1",
                  expect=1)
    assert f"{target} is a symbolic link (to {victim})" in out.stderr and "Replace the link" in out.stderr
    assert (os.listdir(victim) == [] if planted == "evaluations" else victim.read_text() == "the user's own file\n")


def test_average_writes_only_a_new_or_earlier_average_whole_and_refuses_bad_counts(trained_run, tmp_path):
    from helpers import shared
    from imgtf.artifacts import read_manifest

    run = trained_run("cifar")[0]
    other = shared.copy(run, str(tmp_path / "other_run"))
    before = {name: os.path.getmtime(os.path.join(other, name)) for name in os.listdir(other)}
    user = tmp_path / "photos"
    user.mkdir()
    (user / "cat.png").write_bytes(b"not really")
    for to_dir, flag, message in ((other, 5, "already holds files imgtf-average did not write"),
                                  (tmp_path / "photos", 5, r"did not write \(cat.png\)"),
                                  (os.path.join(run, "avg"), 5, "is inside the run it averages"),
                                  (tmp_path / "avg", 0, "--num_last=0"), (tmp_path / "avg", -1, "--num_last=-1")):
        out = command("average", f"--output_dir={run}", f"--to_dir={to_dir}", f"--num_last={flag}", expect=1)
        assert re.search(message, out.stderr), out.stderr
    assert {name: os.path.getmtime(os.path.join(other, name)) for name in os.listdir(other)} == before
    assert os.listdir(user) == ["cat.png"] and not os.path.exists(tmp_path / "avg")
    out = command("average", f"--output_dir={tmp_path}", f"--to_dir={tmp_path / 'avg'}", expect=1)
    assert "is not a run directory (no hparams.json)" in out.stderr
    (tmp_path / "avg.partial-999999").mkdir()  # what a killed average left beside it
    command("average", f"--output_dir={run}", f"--to_dir={tmp_path / 'avg'}", "--num_last=1")
    assert read_manifest(tmp_path / "avg")["checkpoints"] == ["ckpt-3"]
    out = command("average", f"--output_dir={run}", f"--to_dir={tmp_path / 'avg'}", "--num_last=2")  # replaces it
    assert read_manifest(tmp_path / "avg")["checkpoints"] == ["ckpt-2", "ckpt-3"]
    assert "-> " + str(tmp_path / "avg") in out.stdout
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("avg")) == ["avg"]
    (tmp_path / "avg" / "metrics.jsonl").write_text("{}\n")  # evaluated since: no longer only what average wrote
    out = command("average", f"--output_dir={run}", f"--to_dir={tmp_path / 'avg'}", expect=1)
    assert "holds files added since imgtf-average wrote it (metrics.jsonl)" in out.stderr


@pytest.mark.parametrize("flag", ["--log_every_steps=0", "--checkpoint_every_steps=0", "--eval_steps=-1",
                                  "--keep_checkpoints=0", "--random_seed=-1", "--train_steps=-5"])
def test_flags_out_of_range_are_refused_naming_the_flag_before_anything_is_written(tmp_path, flag):
    out = command("trainer", f"--output_dir={tmp_path / 'run'}", "--problem=image_cifar10",
                  "--hparams_set=imagetransformer_cifar10_tiny", "--steps_per_loop=2", flag, expect=1)
    assert f"flag {flag}" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "run").exists()


def test_a_run_resumes_with_the_seed_it_recorded_and_refuses_another(trained_run, tmp_path, builtins):
    from helpers import shared

    spec = run_dir.resolve(str(tmp_path / "new"), "image_cifar10", "image_transformer",
                           "imagetransformer_cifar10_tiny")
    assert run_dir.settle_seed(spec, "new", 3, True) == 3
    run_dir.save(spec, str(tmp_path / "new"))
    saved = run_dir.load(str(tmp_path / "new"))
    assert saved.random_seed == 3 and run_dir.settle_seed(saved, "new", 0, False) == 3  # resumed without the flag
    run, data_dir = trained_run("plain")
    run = shared.copy(run, str(tmp_path / "run"))
    path = os.path.join(run, "hparams.json")
    values = json.load(open(path))
    values["random_seed"] = 3
    json.dump(values, open(path, "w"))
    out = command("trainer", f"--output_dir={run}", f"--data_dir={data_dir}", "--train_steps=9", "--random_seed=5",
                  expect=1)
    assert "--random_seed=5 conflicts with the run" in out.stderr and "trained with random_seed 3" in out.stderr


@pytest.mark.parametrize("edit, message", [(("hidden_size", "24"), r"hidden_size='24' \(a str; the set's is"),
                                           (("hidden_size", -4), r"hidden_size=-4 \(must be >= 1\)"),
                                           (("random_seed", "x"), "random_seed must be an integer")])
def test_a_hand_edited_hparams_json_is_refused_naming_the_value(trained_run, tmp_path, edit, message):
    from helpers import shared

    run = shared.copy(trained_run("plain")[0], str(tmp_path / "run"))
    path = os.path.join(run, "hparams.json")
    values = json.load(open(path))
    key, value = edit
    (values if key == "random_seed" else values["hparams"])[key] = value
    json.dump(values, open(path, "w"))
    for name, args in (("trainer", ["--data_dir", tmp_path, "--train_steps=9"]),
                       ("decoder", ["--decode_dir", tmp_path / "d"])):
        out = command(name, f"--output_dir={run}", *args, expect=1)
        assert re.search(message, out.stderr) and path in out.stderr, (name, out.stderr)
    assert not (tmp_path / "d").exists() and not list(tmp_path.glob("run/ckpt-3*"))


def test_a_checkpoint_named_from_elsewhere_is_recorded_with_its_source_and_bad_names_are_explained(trained_run,
                                                                                                   tmp_path):
    from helpers import shared
    from imgtf.evaluation import per_image
    from imgtf.train.metrics import read_metrics

    source, data_dir = trained_run("plain")
    run = shared.copy(source, str(tmp_path / "run"))
    other = shared.copy(source, str(tmp_path / "other"))
    own = per_image.newest(run)
    out = command("trainer", f"--output_dir={run}", f"--data_dir={data_dir}", "--schedule=eval", "--eval_steps=1",
                  f"--checkpoint_path={other}/ckpt-1")
    record = read_metrics(run)[-1]
    assert record["checkpoint"] == os.path.join(other, "ckpt-1") and f"of {other}/ckpt-1" in out.stdout
    assert per_image.newest(run) == own  # not this run's newest evaluation
    for path, message in ((f"{other}/ckpt-99", r"no such checkpoint \(.*ckpt-99.index is missing; that folder has "
                                               r"ckpt-1, ckpt-2\)"),
                          (other, "is a directory: name one checkpoint"),
                          (f"{trained_run('class')[0]}/ckpt-1", "cannot be restored into the model of the run")):
        out = command("trainer", f"--output_dir={run}", f"--data_dir={data_dir}", "--schedule=eval",
                      "--eval_steps=1", f"--checkpoint_path={path}", expect=1)
        assert re.search(message, out.stderr), out.stderr
    assert len(read_metrics(run)) == len(read_metrics(source)) + 1


def test_a_record_cut_short_is_skipped_with_a_warning_and_the_next_one_starts_its_own_line(tmp_path, caplog):
    from imgtf.train.metrics import MetricsLog, read_metrics

    (tmp_path / "metrics.jsonl").write_text('{"step": 1, "split": "test", "bits_per_dim": 5.1}\n{"step": 2, "spl')
    assert [r["step"] for r in read_metrics(str(tmp_path))] == [1]
    assert "line 2 is not a whole evaluation record" in caplog.text
    MetricsLog(str(tmp_path)).record(3, "test", bits_per_dim=5.0)
    assert [r["step"] for r in read_metrics(str(tmp_path))] == [1, 3]


def test_a_comparison_refuses_non_finite_values_and_an_unwritable_json_before_evaluating(tmp_path):
    import numpy as np

    from imgtf.evaluation.comparison import ComparisonError, compare_evaluations
    from imgtf.evaluation.per_image import ImageEvaluation

    def evaluation(nll):
        return ImageEvaluation(np.array(nll, np.float64), np.arange(3), np.array([7, 8, 9]), "test", 1, "raw",
                               "image_cifar10", (8, 8, 3))

    with pytest.raises(ComparisonError, match=r"B .* holds 1 non-finite per-image NLLs \(the first of image 1\)"):
        compare_evaluations(evaluation([1.0, 2.0, 3.0]), evaluation([1.0, float("nan"), 3.0]))
    out = command("compare", f"--a={tmp_path}", f"--b={tmp_path}", f"--json={tmp_path / 'missing' / 'c.json'}",
                  expect=1)
    assert "there is no folder" in out.stderr and out.stdout == ""


def test_mnist_without_its_test_files_is_refused_before_training(mnist_dir, tmp_path):
    import shutil

    data = tmp_path / "mnist"
    data.mkdir()
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"):
        shutil.copy(os.path.join(mnist_dir, name), data / name)
    out = command("trainer", f"--output_dir={tmp_path / 'run'}", f"--data_dir={data}", "--problem=image_mnist",
                  "--hparams_set=pixelcnn_cifar10_tiny", "--train_steps=2", expect=1)
    assert "No MNIST test split under" in out.stderr and "t10k-images-idx3-ubyte.gz" in out.stderr
    assert not list((tmp_path / "run").glob("ckpt-*"))


def test_decoded_images_do_not_depend_on_the_batch_size(trained_run):
    import numpy as np

    from imgtf import load_run
    from imgtf.sampling.decode import sample_unconditional
    from imgtf.sampling.settings import SamplingSettings

    model = load_run(trained_run("plain")[0]).model
    drawn = [sample_unconditional(model, SamplingSettings(num_samples=3, batch_size=size, seed=11,
                                                          jit_compile=False)).samples for size in (1, 2, 3)]
    np.testing.assert_array_equal(drawn[0], drawn[1])
    np.testing.assert_array_equal(drawn[0], drawn[2])
    assert not np.array_equal(drawn[0][0], drawn[0][1])  # each image its own draws
    next_seed = sample_unconditional(model, SamplingSettings(num_samples=2, seed=12, jit_compile=False)).samples
    assert not np.array_equal(next_seed[0], drawn[0][1])  # seed 12 is not seed 11 shifted by one image


@pytest.mark.parametrize("override,largest", [("batch_size=100000", "the attention weights"),
                                              ("hidden_size=1000000000", "weights, gradients"),
                                              ("attention_type=global,batch_size=512", "the attention weights")])
def test_a_step_that_cannot_fit_the_memory_is_refused_with_an_estimate_before_anything_is_built(tmp_path, override,
                                                                                               largest):
    """(Global attention at batch 512 on 32x32: at least 3 x 512 x 4 heads x 3072^2 floats of attention weights,
    232 GB, where the other parts of the bound come to 3 GB: refused only because the bound counts attention.)"""
    out = command("trainer", f"--output_dir={tmp_path / 'run'}", "--problem=image_cifar10",
                  "--hparams_set=imagetransformer_cifar10_tiny", f"--hparams={override}", expect=1)
    assert re.search(r"a training step needs at least [\d,.]+ GiB \(mostly .*\), more than this machine's", out.stderr)
    assert f"(mostly {largest}" in out.stderr
    assert not (tmp_path / "run").exists()


def test_a_keras_config_with_values_of_the_wrong_type_out_of_range_or_beyond_the_memory_is_refused(trained_run):
    """A received `.keras` file's config is checked as --hparams are: types against the registered sets ("24" or 2.5
    for a size), ranges, and weights that could not fit this machine (hidden_size=10^6: 4 TB of weights at least)
    refused with the estimate before any weight is made."""
    from imgtf import load_run
    from imgtf.hparams.hparams import HParamsError

    model = load_run(trained_run("plain")[0]).model
    config = model.get_config()
    source = r"config of a .keras file"
    for value, refusal in ((dict(hidden_size="24"), source + r"\): values of the wrong type: hidden_size='24' \(a str"),
                           (dict(hidden_size=2.5, query_shape=[1.5, 2]),
                            r"wrong type: hidden_size=2.5 \(a float; .*; query_shape=\[1.5, 2\] \(a list"),
                           (dict(num_heads=0), r"num_heads=0 \(must be >= 1\).*" + source),
                           (dict(hidden_size=10 ** 6), r"hidden_size=1000000 in 1 layer: the model's weights alone need "
                                                       r"at least [\d,.]+ GiB, more than this machine's.*" + source)):
        with pytest.raises(HParamsError, match=refusal):
            type(model).from_config({**config, "hparams": {**config["hparams"], **value}})


def test_running_out_of_memory_past_the_estimate_is_one_line_saying_what_to_lower(tmp_path, monkeypatch,
                                                                                  cifar_folder):
    """The check before a run counts a lower bound, so a step can still exhaust the memory. TensorFlow's allocation
    failure, raised where the step runs (with its message; a real one waits 10 s for memory here first), ends the
    command with what could not be allocated and what to lower, no traceback; what was written is kept."""
    import tensorflow as tf

    from imgtf.train.trainer import Trainer

    def train(self, *args, **kwargs):
        raise tf.errors.ResourceExhaustedError(None, None, (
            "Graph execution error:\n\nDetected at node ones defined at (most recent call last):\n  File ...\n\nOOM "
            "when allocating tensor with shape[1099511627776] and type float on /job:localhost/replica:0/task:0/"
            "device:CPU:0 by allocator cpu\n\t [[{{node ones}}]]\nHint: If you want to see a list of allocated "
            "tensors when OOM happens, add report_tensor_allocations_upon_oom to RunOptions"))

    monkeypatch.setattr(Trainer, "train", train)
    out = command("trainer", f"--output_dir={tmp_path / 'run'}", "--problem=image_folder", f"--data_dir={cifar_folder}",
                  "--problem_options=image_size=8", "--hparams_set=pixelcnn_cifar10_tiny", expect=1)
    assert re.fullmatch(r"imgtf-trainer: error: out of memory \(OOM when allocating tensor with shape\[1099511627776\] "
                        r"and type float\): .*Lower batch_size, hidden_size.* is kept as it was.\n", out.stderr,
                        flags=re.S)
    assert not [name for name in os.listdir(tmp_path / "run") if name.startswith(("ckpt", "checkpoint"))]
