"""Decoder, exporter and checkpoint averaging on real runs (tiny models trained briefly on real CIFAR-10)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from conftest import REPO, TINY_OVERRIDES
from imgtf.train import run_dir

SMALL_2D = ",query_shape=[4,16],memory_flange=[2,8]"
pytestmark = pytest.mark.xdist_group("decode_export_runs")  # one worker trains the shared runs once


def cli(command, *args, timeout=600):
    result = subprocess.run([sys.executable, "-m", f"imgtf.commands.{command}", *args], capture_output=True, text=True,
                            timeout=timeout, cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def train_run(directory, data_dir, problem, model, hparams_set, extra="", steps=3, every=1):
    from imgtf.train.trainer import Trainer

    spec = run_dir.resolve(str(directory), problem, model, hparams_set, TINY_OVERRIDES + SMALL_2D + extra)
    run_dir.save(spec, str(directory))
    trainer = Trainer(spec, str(directory), data_dir)
    trainer.train(steps, checkpoint_every=every)
    return trainer


# session, not module: a worker that runs other modules' tests in between would otherwise train them again
@pytest.fixture(scope="session")
def runs(tmp_path_factory, cifar_dir):
    import imgtf.catalog

    imgtf.catalog.load_builtins()
    root = tmp_path_factory.mktemp("runs")
    return {
        "plain": train_run(root / "plain", cifar_dir, "image_cifar10", "image_transformer", "imagetransformer_cifar10_tiny"),
        "class": train_run(root / "class", cifar_dir, "image_cifar10", "image_transformer",
                           "imagetransformer_cifar10_cond_tiny", ",likelihood=dmol,num_mixtures=2", steps=2),
        "sr": train_run(root / "sr", cifar_dir, "img2img_cifar10", "img2img_transformer",
                        "img2img_transformer_celeba_2d_tiny", steps=2),
    }


@pytest.mark.parametrize("flag", ["--temperature=0", "--temperature=-1", "--temperature=nan", "--num_samples=0"])
def test_decoder_refuses_bad_settings_before_loading_or_writing(flag):
    from imgtf.sampling.sampler import check_sampling_settings

    name, value = flag[2:].split("=")
    settings = {"num_samples": 1, "temperature": 1.0, name: float(value) if name == "temperature" else int(value)}
    with pytest.raises(ValueError, match=f"--{name}=.*must be"):
        check_sampling_settings(**settings)


def test_decoder_command_refuses_temperature_zero(tmp_path):
    result = subprocess.run([sys.executable, "-m", "imgtf.commands.decoder", f"--output_dir={tmp_path / 'none'}",
                             f"--decode_dir={tmp_path / 'd'}", "--temperature=0"], capture_output=True, text=True,
                            timeout=300, cwd=REPO)
    assert result.returncode == 1 and "--temperature=0.0: must be a finite number > 0" in result.stderr
    assert not (tmp_path / "d").exists()


def test_decoder_unconditional_and_class(runs, tmp_path):
    plain = runs["plain"].output_dir
    out = cli("decoder", f"--output_dir={plain}", f"--decode_dir={tmp_path / 'u'}", "--num_samples=3", "--seed=5")
    assert "3 images (unconditional)" in out.stdout
    samples = np.load(tmp_path / "u" / "samples.npy")
    assert samples.shape == (3, 32, 32, 3) and samples.dtype == np.uint8
    assert os.path.getsize(tmp_path / "u" / "samples.png") > 1000
    cli("decoder", f"--output_dir={runs['class'].output_dir}", f"--decode_dir={tmp_path / 'c'}", "--num_samples=2",
        "--labels=3,7")
    summary = json.load(open(tmp_path / "c" / "decode.json"))
    assert summary["mode"] == "class" and summary["labels"] == [3, 7]


def test_decoder_completion_keeps_the_top_half(runs, cifar_dir, tmp_path):
    cli("decoder", f"--output_dir={runs['plain'].output_dir}", f"--data_dir={cifar_dir}", f"--decode_dir={tmp_path}",
        "--mode=completion", "--num_samples=2", "--samples_per_input=2")
    samples, originals = np.load(tmp_path / "samples.npy"), np.load(tmp_path / "originals.npy")
    assert samples.shape == (2, 2, 32, 32, 3)
    np.testing.assert_array_equal(samples[:, :, :16], np.repeat(originals[:, None, :16], 2, axis=1))


def test_decoder_super_resolves_user_images_with_consistency(runs, celeba_dir, tmp_path):
    files = [os.path.join(celeba_dir, "img_align_celeba", f"00000{i}.jpg") for i in (1, 2)]
    out = cli("decoder", f"--output_dir={runs['sr'].output_dir}", f"--decode_dir={tmp_path}",
              f"--input_images={','.join(files)}")
    summary = json.load(open(tmp_path / "decode.json"))
    assert summary["mode"] == "super_resolution" and 0.0 <= summary["consistency"] < 1.0
    assert "consistency" in out.stdout
    assert np.load(tmp_path / "inputs.npy").shape == (2, 8, 8, 3)


def test_consistency_metric_is_zero_for_a_matching_image():
    from imgtf.sampling.decode import consistency

    flat = np.full((1, 32, 32, 3), 77, np.uint8)
    assert consistency(np.full((1, 8, 8, 3), 77, np.uint8), flat)[0] == pytest.approx(0.0, abs=1e-10)
    assert consistency(np.full((1, 8, 8, 3), 0, np.uint8), flat)[0] == pytest.approx((77 / 255) ** 2, rel=1e-5)


FRESH_PROCESS = r'''
import json, sys
import numpy as np, tensorflow as tf
m = tf.saved_model.load(sys.argv[1])
args = json.loads(sys.argv[2])
cond = {k: tf.constant(np.array(v, dtype=np.uint8 if k == "inputs" else np.int32)) for k, v in args["cond"].items()}
images = tf.constant(np.load(sys.argv[3]))
out = {"bits_per_dim": m.signatures["bits_per_dim"](images=images, **cond)["bits_per_dim"].numpy().tolist(),
       "log_prob": float(tf.reduce_sum(m.signatures["log_prob"](images=images, **cond)["log_prob"]).numpy())}
sample_cond = {k: v[: args["n"]] for k, v in cond.items()}
out["sample"] = m.signatures["sample"](num_samples=tf.constant(args["n"]), temperature=tf.constant(1.0),
                                       seed=tf.constant(args["seed"]), **sample_cond)["images"].numpy().tolist()
out["imgtf_imported"] = "imgtf" in sys.modules
print(json.dumps(out))
'''


@pytest.mark.parametrize("name", ["class", "sr"])  # "plain": checked on the export that the next test makes
def test_export_loads_without_imgtf_and_matches_trainer_and_decoder(runs, cifar_dir, tmp_path, name):
    cli("exporter", f"--output_dir={runs[name].output_dir}", f"--export_dir={tmp_path / 'export'}")
    check_export_in_a_fresh_process(runs[name], tmp_path / "export", cifar_dir, tmp_path)


def check_export_in_a_fresh_process(trainer, export_dir, cifar_dir, tmp_path):
    """Loaded by a process that never imports imgtf, the export gives the trainer's bits/dim on the same 8 test
    images and, for a seed, the cached sampler's images (with the same conditioning)."""
    batch = next(iter(trainer.problem.dataset("test", cifar_dir, 8)))
    np.save(tmp_path / "images.npy", batch["targets"].numpy())
    cond = {}
    if trainer.model.class_embedding is not None:
        cond["label"] = batch["label"].numpy().tolist()
    if trainer.model.uses_encoder:
        cond["inputs"] = batch["inputs"].numpy().tolist()
    result = subprocess.run([sys.executable, "-c", FRESH_PROCESS, str(export_dir / "saved_model"),
                             json.dumps({"cond": cond, "n": 2, "seed": 9}), str(tmp_path / "images.npy")],
                            capture_output=True, text=True, timeout=600, cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    exported = json.loads(result.stdout.strip().splitlines()[-1])
    assert not exported["imgtf_imported"]
    # bits/dim of the export equals the trainer's evaluation of the same 8 images
    entry = trainer.evaluate("test", eval_steps=2)  # batch_size 4: the same first 8 images
    assert entry["num_images"] == 8
    assert np.mean(exported["bits_per_dim"]) == pytest.approx(entry["bits_per_dim"], rel=1e-5)
    assert -exported["log_prob"] / (8 * 3072 * np.log(2)) == pytest.approx(entry["bits_per_dim"], rel=1e-5)
    # sample with a fixed seed equals the decoder's with that seed (same conditioning)
    from imgtf.sampling import cached_sample

    features = {k: np.array(v)[:2] for k, v in cond.items()} or None
    if features and "inputs" in features:
        features["inputs"] = features["inputs"].astype(np.uint8)
    expected = cached_sample(trainer.model, 2, 1.0, 9, features).numpy()
    np.testing.assert_array_equal(np.array(exported["sample"], np.uint8), expected)
    assert os.path.exists(export_dir / "model.keras")


def test_decoder_and_export_sample_agree(runs, cifar_dir, tmp_path):
    """imgtf-decoder --seed and the SavedModel's sample signature give the same images; an export never replaces
    what is in its folder without --overwrite, never deletes a run, and --overwrite replaces the folder whole; the
    unconditional export loads without imgtf and matches the trainer."""
    plain = runs["plain"].output_dir
    cli("decoder", f"--output_dir={plain}", f"--decode_dir={tmp_path / 'd'}", "--num_samples=2", "--seed=21")
    # a folder already holding something (an older export, anything) is refused and left as it was
    (tmp_path / "e").mkdir()
    (tmp_path / "e" / "stale.txt").write_text("from an older export")
    refused = subprocess.run([sys.executable, "-m", "imgtf.commands.exporter", f"--output_dir={plain}",
                              f"--export_dir={tmp_path / 'e'}"], capture_output=True, text=True, timeout=300, cwd=REPO)
    assert refused.returncode == 1 and "is not empty" in refused.stderr and "--overwrite" in refused.stderr
    assert os.listdir(tmp_path / "e") == ["stale.txt"]
    into_run = subprocess.run([sys.executable, "-m", "imgtf.commands.exporter", f"--output_dir={plain}",
                               f"--export_dir={plain}", "--overwrite"], capture_output=True, text=True, timeout=300,
                              cwd=REPO)
    assert into_run.returncode == 1 and "would delete the run's checkpoints" in into_run.stderr
    assert tf.train.latest_checkpoint(plain) is not None  # the run is intact
    cli("exporter", f"--output_dir={plain}", f"--export_dir={tmp_path / 'e'}", "--overwrite")
    assert sorted(os.listdir(tmp_path / "e")) == ["model.keras", "saved_model"]
    assert not [p for p in os.listdir(tmp_path) if ".partial-" in p]
    check_export_in_a_fresh_process(runs["plain"], tmp_path / "e", cifar_dir, tmp_path)
    loaded = tf.saved_model.load(str(tmp_path / "e" / "saved_model"))
    images = loaded.signatures["sample"](num_samples=tf.constant(2), temperature=tf.constant(1.0),
                                         seed=tf.constant(21))["images"].numpy()
    np.testing.assert_array_equal(images, np.load(tmp_path / "d" / "samples.npy"))
    # the signatures check what they are given, with a message naming what they expect
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"images must be uint8 \[batch, 32, 32, 3\]"):
        loaded.signatures["bits_per_dim"](images=tf.zeros([1, 32, 32, 1], tf.uint8))  # grayscale
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"images must be uint8 \[batch, 32, 32, 3\]"):
        loaded.signatures["log_prob"](images=tf.zeros([1, 16, 16, 3], tf.uint8))
    for temperature in (0.0, -1.0, float("nan")):
        with pytest.raises(tf.errors.InvalidArgumentError, match="temperature must be"):
            loaded.signatures["sample"](num_samples=tf.constant(1), temperature=tf.constant(temperature),
                                        seed=tf.constant(0))


def test_checkpoint_average_is_exact_and_usable(runs, cifar_dir, tmp_path):
    plain = runs["plain"].output_dir  # checkpoints at steps 1, 2, 3
    cli("average", f"--output_dir={plain}", f"--to_dir={tmp_path / 'avg'}", "--num_last=3")
    state = tf.train.get_checkpoint_state(plain)
    paths = list(state.all_model_checkpoint_paths)[-3:]
    readers = [tf.train.load_checkpoint(p) for p in paths]
    averaged = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(tmp_path / "avg")))
    not_weights = ("optimizer/_variables/", "optimizer/_iterations", "optimizer/_learning_rate", "step/", "save_counter",
                   "rng_state", "_CHECKPOINTABLE_OBJECT_GRAPH")
    keys = [k for k in readers[0].get_variable_to_shape_map() if not k.startswith(not_weights)]
    assert len(keys) == len(runs["plain"].model.trainable_variables)
    for key in keys:
        values = [r.get_tensor(key).astype(np.float64) for r in readers]
        expected = (sum(values) / 3).astype(np.float32)
        np.testing.assert_array_equal(averaged.get_tensor(key), expected)
    assert not np.array_equal(readers[0].get_tensor(keys[0]), readers[2].get_tensor(keys[0]))
    out = cli("trainer", f"--output_dir={tmp_path / 'avg'}", f"--data_dir={cifar_dir}", "--schedule=eval",
              "--eval_steps=2")
    assert "bits_per_dim" in out.stdout


def test_grids_show_grayscale_images():
    """Grayscale (C = 1) samples, inputs and originals make RGB grids (the decoder used to fail concatenating them)."""
    from imgtf.sampling import outputs

    gray = np.random.RandomState(0).randint(0, 256, (3, 6, 5, 1)).astype(np.uint8)
    picture = outputs.sample_grid(gray, columns=2, scale=2)
    assert picture.shape == (2 * 12 + 2, 2 * 10 + 2, 3)
    np.testing.assert_array_equal(picture[:12, :10], np.repeat(outputs.upscale(gray[:1], 2)[0], 3, axis=-1))
    both = outputs.comparison_grid(gray, gray[:, None].repeat(2, axis=1), gray, scale=2)
    assert both.shape[-1] == 3 and both.shape[0] == 3 * 12 + 2 * 2
