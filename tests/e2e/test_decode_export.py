"""Decoder, exporter and checkpoint averaging on the session's shared trained runs (tiny models trained briefly on
real CIFAR-10 images, 8x8 image folders where they sample: conftest.SHARED_RUNS), each command called in this
process; the exports are loaded by a fresh process that never imports imgtf."""
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from helpers import shared
from helpers.commands import command
from imgtf.train.metrics import read_metrics


def test_decoder_completion_keeps_the_top_half(trained_run, tmp_path):
    run, data_dir = trained_run("plain")
    command("decoder", f"--output_dir={run}", f"--data_dir={data_dir}", f"--decode_dir={tmp_path}",
            "--mode=completion", "--num_samples=2", "--samples_per_input=2", "--noxla")
    samples, originals = np.load(tmp_path / "samples.npy"), np.load(tmp_path / "originals.npy")
    assert samples.shape == (2, 2, 8, 8, 3)
    np.testing.assert_array_equal(samples[:, :, :4], np.repeat(originals[:, None, :4], 2, axis=1))
    assert not np.array_equal(samples[:, :, 4:], np.repeat(originals[:, None, 4:], 2, axis=1))


def test_decoder_refuses_a_file_for_its_folder_and_a_draw_beyond_the_memory_before_sampling(trained_run, tmp_path):
    from imgtf import load_run
    from imgtf.errors import InputError

    run, _ = trained_run("plain")
    (tmp_path / "a_file").write_text("the user's")
    for decode_dir, refusal in (("a_file", r"--decode_dir=.*a_file is a file: name a folder"),
                                ("a_file/sub", r"--decode_dir=.*a_file/sub cannot be made \(.*a_file is a file\)")):
        result = command("decoder", f"--output_dir={run}", f"--decode_dir={tmp_path / decode_dir}", "--num_samples=1",
                         expect=1)
        assert re.fullmatch(r"imgtf-decoder: error: " + refusal + r".*\n", result.stderr)  # before loading the run
    result = command("decoder", f"--output_dir={run}", f"--decode_dir={tmp_path / 'd'}", "--num_samples=10000000000",
                     "--batch_size=64", expect=1)
    assert re.search(r"--num_samples=10000000000: every image is kept in memory, at least 1,788.1 GiB, more than this "
                     r"machine's [\d,.]+ GiB. Draw fewer \(decodes with other --seed values", result.stderr)
    with pytest.raises(InputError, match=r"num_samples=10000000000: every image .* \(calls with another seed"):
        load_run(run).model.sample(num_samples=10 ** 10)  # Python's sampling: at once, not TensorFlow's OOM 10 s later
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]
    assert (tmp_path / "a_file").read_text() == "the user's"


def test_decoder_super_resolves_user_images_with_consistency(trained_run, celeba_dir, tmp_path):
    files = [os.path.join(celeba_dir, "img_align_celeba", f"00000{i}.jpg") for i in (1, 2)]
    out = command("decoder", f"--output_dir={trained_run('sr')[0]}", f"--decode_dir={tmp_path}",
                  f"--input_images={','.join(files)}", "--noxla")
    summary = json.load(open(tmp_path / "decode.json"))
    assert summary["mode"] == "super_resolution" and 0.0 <= summary["consistency"] < 1.0
    assert "consistency" in out.stdout
    assert np.load(tmp_path / "inputs.npy").shape == (2, 4, 4, 3)  # the run's input size


FRESH_PROCESS = r'''
import json, sys
import numpy as np, tensorflow as tf
results = []
for job in json.loads(sys.argv[1]):  # every export, loaded by this one process
    m = tf.saved_model.load(job["saved_model"])
    cond = {k: tf.constant(np.array(v, dtype=np.uint8 if k == "inputs" else np.int32)) for k, v in job["cond"].items()}
    images = tf.constant(np.load(job["images"]))
    out = {"bits_per_dim": m.signatures["bits_per_dim"](images=images, **cond)["bits_per_dim"].numpy().tolist(),
           "log_prob": float(tf.reduce_sum(m.signatures["log_prob"](images=images, **cond)["log_prob"]).numpy())}
    sample_cond = {k: v[: job["n"]] for k, v in cond.items()}
    out["sample"] = m.signatures["sample"](num_samples=tf.constant(job["n"]), temperature=tf.constant(1.0),
                                           seed=tf.constant(job["seed"]), **sample_cond)["images"].numpy().tolist()
    if "label" in cond:  # a class id the model does not have is refused, not scored
        try:
            m.signatures["bits_per_dim"](images=images, label=tf.fill(tf.shape(cond["label"]), 999))
            out["label_refused"] = ""
        except tf.errors.InvalidArgumentError as e:
            out["label_refused"] = e.message
    results.append(out)
print(json.dumps({"results": results, "imgtf_imported": "imgtf" in sys.modules}))
'''
MODES = {"plain": "unconditional", "class": "class", "sr": "super_resolution"}


def export_and_decode(run, data_dir, name, folder):
    """Export the shared run `name` and sample 2 images with the decoder in its own mode (seed 9); returns the job
    for the fresh process and what its answers are compared with."""
    from imgtf.train import run_dir

    command("exporter", f"--output_dir={run}", f"--export_dir={folder / 'export'}", "--noxla")
    assert sorted(os.listdir(folder / "export")) == ["imgtf-output.json", "model.keras", "saved_model"]
    problem = run_dir.resolve(run).make_problem(data_dir)
    batch = {k: v.numpy() for k, v in next(iter(problem.dataset("test", data_dir, 8))).items()}
    np.save(folder / "images.npy", batch["targets"])
    cond, decoder_flags = {}, []
    if name == "class":
        cond["label"] = batch["label"].tolist()
        decoder_flags.append(f"--labels={batch['label'][0]},{batch['label'][1]}")
        refused = command("decoder", f"--output_dir={run}", f"--decode_dir={folder / 'no'}", "--labels=1,999",
                          expect=1)
        assert f"--labels=1,999: 999 is no class of this model; its class ids are 0..{problem.num_classes - 1}" \
            in refused.stderr
    if name == "sr":
        cond["inputs"] = batch["inputs"].tolist()
        decoder_flags.append(f"--data_dir={data_dir}")  # its inputs: the first of the test split
    decoded = command("decoder", f"--output_dir={run}", f"--decode_dir={folder / 'd'}", "--num_samples=2",
                      "--seed=9", "--noxla", *decoder_flags)
    assert f"2 images ({MODES[name]})" in decoded.stdout and os.path.getsize(folder / "d" / "samples.png") > 500
    summary = json.load(open(folder / "d" / "decode.json"))
    assert summary["mode"] == MODES[name] and (name != "class" or summary["labels"] == cond["label"][:2])
    job = {"saved_model": str(folder / "export" / "saved_model"), "cond": cond, "n": 2, "seed": 9,
           "images": str(folder / "images.npy")}
    samples = np.load(folder / "d" / "samples.npy").reshape(2, *problem.image_shape)  # SR: [inputs, per input, ...]
    return job, problem, samples


# The conditionings in two groups, one fresh process each: the Image Transformer's (unconditional, class) and the
# super-resolution model's (one process for all three measured 14 s, over the suite's 10 s per test)
@pytest.mark.parametrize("names", [("plain", "class"), ("sr",)], ids=["transformer", "super_resolution"])
def test_exports_load_without_imgtf_and_match_trainer_and_decoder(trained_run, tmp_path, names):
    """For each conditioning (unconditional, class, super-resolution) the decoder samples in the run's own mode, and
    the export, loaded by a process that never imports imgtf (every export of the group in it), gives the trainer's
    bits/dim on the first 8 test images and, for a seed, the decoder's images (with the same conditioning)."""
    made = {}
    for name in names:
        (tmp_path / name).mkdir()
        made[name] = (trained_run(name)[0], *export_and_decode(*trained_run(name), name, tmp_path / name))
    result = subprocess.run([sys.executable, "-c", FRESH_PROCESS, json.dumps([job for _, job, _, _ in made.values()])],
                            capture_output=True, text=True, timeout=600, cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    answers = json.loads(result.stdout.strip().splitlines()[-1])
    assert not answers["imgtf_imported"]
    for (name, (run, job, problem, decoded)), exported in zip(made.items(), answers["results"]):
        assert name != "class" or "label must be class ids in [0, " in exported["label_refused"]
        evaluated = read_metrics(run)[-1]  # the trainer's evaluation of the same first 8 test images
        assert evaluated["num_images"] == 8
        assert np.mean(exported["bits_per_dim"]) == pytest.approx(evaluated["bits_per_dim"], rel=1e-5), name
        dims = np.prod(problem.image_shape)
        assert -exported["log_prob"] / (8 * dims * np.log(2)) == pytest.approx(evaluated["bits_per_dim"], rel=1e-5)
        np.testing.assert_array_equal(np.array(exported["sample"], np.uint8), decoded, err_msg=name)


def test_export_refuses_to_replace_anything_and_checks_its_inputs(trained_run, tmp_path):
    """An export never replaces what is in its folder without --overwrite, and with it only an earlier export (never
    a run, a file of it, or a user's folder); it replaces that whole, and what a killed export left is removed; the
    signatures check what they are given, with a message naming what they expect."""
    plain = str(shared.copy(trained_run("cifar")[0], tmp_path / "run"))
    (tmp_path / "e").mkdir()
    (tmp_path / "e" / "stale.txt").write_text("a user's file")
    refused = command("exporter", f"--output_dir={plain}", f"--export_dir={tmp_path / 'e'}", "--noxla", expect=1)
    assert "is not empty" in refused.stderr and "--overwrite" in refused.stderr
    run_files = sorted(os.listdir(plain))
    for target, message in ((tmp_path / "e", r"did not write \(stale.txt\)"), (plain, "would delete the run's"),
                            (os.path.join(plain, "hparams.json"), "is a file"),
                            (os.path.join(plain, "evaluations"), "did not write")):
        out = command("exporter", f"--output_dir={plain}", f"--export_dir={target}", "--overwrite", "--noxla",
                      expect=1)
        assert re.search(message, out.stderr), (target, out.stderr)
    assert os.listdir(tmp_path / "e") == ["stale.txt"] and sorted(os.listdir(plain)) == run_files
    assert tf.train.latest_checkpoint(plain) is not None  # the run is intact
    export = tmp_path / "export"
    command("exporter", f"--output_dir={plain}", f"--export_dir={export}", "--noxla")
    (tmp_path / "export.partial-999999").mkdir()  # what a killed export left
    command("exporter", f"--output_dir={plain}", f"--export_dir={export}", "--overwrite", "--noxla")
    assert sorted(os.listdir(export)) == ["imgtf-output.json", "model.keras", "saved_model"]
    assert not [p for p in os.listdir(tmp_path) if ".partial-" in p or ".replaced-" in p]
    loaded = tf.saved_model.load(str(export / "saved_model"))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"images must be uint8 \[batch, 32, 32, 3\]"):
        loaded.signatures["bits_per_dim"](images=tf.zeros([1, 32, 32, 1], tf.uint8))  # grayscale
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"images must be uint8 \[batch, 32, 32, 3\]"):
        loaded.signatures["log_prob"](images=tf.zeros([1, 16, 16, 3], tf.uint8))
    for temperature in (0.0, -1.0, float("nan")):
        with pytest.raises(tf.errors.InvalidArgumentError, match="temperature must be"):
            loaded.signatures["sample"](num_samples=tf.constant(1), temperature=tf.constant(temperature),
                                        seed=tf.constant(0))


def test_checkpoint_average_is_exact_and_usable(trained_run, cifar_dir, tmp_path):
    plain, _ = trained_run("cifar")  # checkpoints at steps 1, 2, 3
    command("average", f"--output_dir={plain}", f"--to_dir={tmp_path / 'avg'}", "--num_last=3")
    state = tf.train.get_checkpoint_state(plain)
    paths = list(state.all_model_checkpoint_paths)[-3:]
    readers = [tf.train.load_checkpoint(p) for p in paths]
    averaged = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(tmp_path / "avg")))
    not_weights = ("optimizer/_variables/", "optimizer/_iterations", "optimizer/_learning_rate", "step/", "save_counter",
                   "rng_state", "_CHECKPOINTABLE_OBJECT_GRAPH")
    keys = [k for k in readers[0].get_variable_to_shape_map() if not k.startswith(not_weights)]
    import imgtf

    assert len(keys) == len(imgtf.load_run(plain).model.trainable_variables)
    for key in keys:
        values = [r.get_tensor(key).astype(np.float64) for r in readers]
        expected = (sum(values) / 3).astype(np.float32)
        np.testing.assert_array_equal(averaged.get_tensor(key), expected)
    assert not np.array_equal(readers[0].get_tensor(keys[0]), readers[2].get_tensor(keys[0]))
    out = command("trainer", f"--output_dir={tmp_path / 'avg'}", f"--data_dir={cifar_dir}", "--schedule=eval",
                  "--eval_steps=2")
    assert "bits_per_dim" in out.stdout
