"""Presets: a run saved as a preset loads (by directory, built-in name, mocked hf:// and kaggle:// handles) into a
model with the run's exact log-likelihoods; the decoder, exporter and trainer (--init_from) take one; a damaged,
foreign or mismatched preset is refused with what to do, and loading one imports nothing."""
import json
import os
import shutil
import sys
import types

import numpy as np
import pytest

from helpers.commands import command
from imgtf.train.metrics import read_metrics

# pixelcnn_binarized_mnist's structure, shrunk, with Polyak averaging (what the shipped presets keep)
TINY = "num_layers=2,hidden_size=8,output_size=16,batch_size=8,eval_batch_size=25,ema_decay=0.9"


@pytest.fixture(scope="module")
def mnist_preset(tmp_path_factory, mnist_dir):
    """(run, preset directory, data_dir): a tiny PixelCNN trained 4 steps on the MNIST fixture, saved as a preset."""
    import imgtf

    root = tmp_path_factory.mktemp("presets")
    run = root / "run"
    command("trainer", "--problem=image_binarized_mnist", "--hparams_set=pixelcnn_binarized_mnist",
            f"--hparams={TINY}", f"--data_dir={mnist_dir}", f"--output_dir={run}", "--train_steps=4")
    imgtf.save_preset(run, root / "tiny_mnist", num_samples=4,
                      card={"command": "imgtf-trainer ... (a test)", "data": "the MNIST fixture", "licence": "CC BY-SA 3.0"})
    return run, root / "tiny_mnist", mnist_dir


def digits(mnist_dir):
    from imgtf.data import amat

    return {"targets": amat.read_split(mnist_dir, "test").images[:8]}


def test_save_then_load_gives_the_runs_exact_likelihoods_and_a_card(mnist_preset):
    import imgtf

    run, preset_dir, mnist_dir = mnist_preset
    preset = imgtf.load_preset(preset_dir)
    trained = imgtf.load_run(run)  # Polyak-averaged weights, as the preset keeps them
    batch = digits(mnist_dir)
    np.testing.assert_array_equal(np.asarray(preset.model.log_prob(batch)), np.asarray(trained.model.log_prob(batch)))
    index = json.load(open(preset_dir / "preset.json"))
    assert index["format_version"] == 1 and index["step"] == 4 and index["weights"] == "polyak_average"
    assert set(index["files"]) == {"hparams.json", "model.weights.h5", "README.md", "samples.png"}
    evaluation = read_metrics(str(run))[-1]
    assert index["evaluation"]["nats_per_image"] == evaluation["nats_per_image"]
    card = preset.card
    assert f"**{evaluation['nats_per_image']:.2f} nats per image** (standard error " in card
    assert "imgtf-trainer ... (a test)" in card and "CC BY-SA 3.0" in card and "Steps: 4 (batch 8)" in card
    assert "usr_dir" not in (preset_dir / "hparams.json").read_text()
    assert preset.problem.name == "image_binarized_mnist" and preset.problem_info["num_levels"] == 2


def test_decoder_and_exporter_take_a_preset(mnist_preset, tmp_path):
    import tensorflow as tf

    _, preset_dir, _ = mnist_preset
    result = command("decoder", f"--preset={preset_dir}", f"--decode_dir={tmp_path / 'digits'}", "--num_samples=4",
                     "--batch_size=4")
    samples = np.load(tmp_path / "digits" / "samples.npy")
    assert samples.shape == (4, 28, 28, 1) and set(np.unique(samples)) <= {0, 1}
    assert (tmp_path / "digits" / "samples.png").exists() and "samples.png" in result.stdout
    command("exporter", f"--preset={preset_dir}", f"--export_dir={tmp_path / 'export'}", "--noxla")
    loaded = tf.saved_model.load(str(tmp_path / "export" / "saved_model"))
    exported = loaded.signatures["log_prob"](images=tf.constant(samples))["log_prob"].numpy()
    import imgtf

    np.testing.assert_allclose(exported, imgtf.load_preset(preset_dir).model.log_prob({"targets": samples}),
                               rtol=1e-5)
    assert json.load(open(tmp_path / "export" / "imgtf-output.json"))["preset"] == str(preset_dir)
    both = command("decoder", f"--preset={preset_dir}", "--output_dir=somewhere", f"--decode_dir={tmp_path}", expect=1)
    assert "exactly one of --output_dir" in both.stderr


def test_trainer_init_from_starts_a_new_run_from_the_presets_weights(mnist_preset, tmp_path):
    run, preset_dir, mnist_dir = mnist_preset
    out = tmp_path / "finetune"
    # no step trained: the new run's evaluation is the preset's own figure on the same digits
    command("trainer", f"--init_from={preset_dir}", f"--data_dir={mnist_dir}", f"--output_dir={out}",
            "--train_steps=0")
    assert read_metrics(str(out))[-1]["nats_per_image"] == pytest.approx(
        json.load(open(preset_dir / "preset.json"))["evaluation"]["nats_per_image"], abs=1e-4)
    command("trainer", f"--init_from={preset_dir}", f"--data_dir={mnist_dir}", f"--output_dir={out}",
            "--train_steps=2", "--schedule=train")
    saved = json.load(open(out / "hparams.json"))
    assert saved["init_from"]["preset"] == str(preset_dir) and saved["init_from"]["step"] == 4
    assert saved["hparams_set"] == "pixelcnn_binarized_mnist" and saved["hparams"]["hidden_size"] == 8
    other = tmp_path / "other_preset"
    shutil.copytree(preset_dir, other)
    import imgtf

    imgtf.save_preset(run, other, num_samples=0, averaged=False)  # replaces the copy: other weights
    refused = command("trainer", f"--init_from={other}", f"--data_dir={mnist_dir}", f"--output_dir={out}",
                      "--train_steps=3", expect=1)
    assert "already has checkpoints from preset" in refused.stderr and "new --output_dir" in refused.stderr
    wider = command("trainer", f"--init_from={preset_dir}", "--hparams=hidden_size=4", f"--data_dir={mnist_dir}",
                    f"--output_dir={tmp_path / 'wider'}", "--train_steps=1", expect=1)
    assert "does not fit this run's model" in wider.stderr


def fake_hubs(monkeypatch, tmp_path, preset_dir):
    """huggingface_hub and kagglehub replaced by local folders: downloads come from `tmp_path/hub/...`, uploads go
    there. Returns the folder."""
    from imgtf.presets import hub

    store = tmp_path / "hub"
    calls = []

    def snapshot_download(repo_id):
        calls.append(("hf download", repo_id))
        return str(store / "hf" / repo_id)

    class HfApi:
        def create_repo(self, repo_id, exist_ok):
            calls.append(("hf create", repo_id))

        def upload_folder(self, repo_id, folder_path, commit_message):
            calls.append(("hf upload", repo_id, commit_message))
            shutil.copytree(folder_path, store / "hf" / repo_id)

    def model_download(handle):
        calls.append(("kaggle download", handle))
        return str(store / "kaggle" / handle)

    def model_upload(handle, local_dir, version_notes):
        calls.append(("kaggle upload", handle, version_notes))
        shutil.copytree(local_dir, store / "kaggle" / handle / "1")

    modules = {"hf": types.SimpleNamespace(snapshot_download=snapshot_download, HfApi=HfApi),
               "kaggle": types.SimpleNamespace(model_download=model_download, model_upload=model_upload)}
    monkeypatch.setattr(hub, "client", lambda scheme: modules[scheme])
    return calls


def test_hub_handles_upload_and_download_through_the_clients(mnist_preset, tmp_path, monkeypatch):
    import imgtf

    run, preset_dir, mnist_dir = mnist_preset
    calls = fake_hubs(monkeypatch, tmp_path, preset_dir)
    imgtf.upload_preset(preset_dir, "hf://someone/tiny-mnist")
    imgtf.upload_preset(preset_dir, "kaggle://someone/pixelcnn/keras/tiny")
    assert calls[:3] == [("hf create", "someone/tiny-mnist"), *calls[1:2], *calls[2:3]]
    assert calls[1][0] == "hf upload" and "pixelcnn_binarized_mnist at step 4" in calls[1][2]
    reference = np.asarray(imgtf.load_preset(preset_dir).model.log_prob(digits(mnist_dir)))
    for handle in ("hf://someone/tiny-mnist", "kaggle://someone/pixelcnn/keras/tiny/1"):
        preset = imgtf.load_preset(handle)
        np.testing.assert_array_equal(np.asarray(preset.model.log_prob(digits(mnist_dir))), reference)
    assert calls[-1] == ("kaggle download", "someone/pixelcnn/keras/tiny/1")
    with pytest.raises(ValueError, match="hf://OWNER/NAME"):
        imgtf.load_preset("hf://only-one-part")
    with pytest.raises(ValueError, match="Kaggle numbers the versions itself"):
        imgtf.upload_preset(preset_dir, "kaggle://someone/pixelcnn/keras/tiny/3")


def test_a_missing_hub_client_says_what_to_install(monkeypatch):
    import imgtf

    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # import fails as if not installed
    with pytest.raises(ValueError, match="pip install huggingface_hub"):
        imgtf.load_preset("hf://someone/model")


def damaged(preset_dir, tmp_path, edit):
    """A copy of the preset with `edit(path)` applied; returns its path."""
    copy = tmp_path / "damaged"
    shutil.copytree(preset_dir, copy)
    edit(copy)
    return copy


def rewrite_index(path, **changes):
    index = json.load(open(path / "preset.json"))
    index.update(changes)
    (path / "preset.json").write_text(json.dumps(index))


def other_hparams(path):
    """hparams.json of another width, the index rewritten to match: a consistent preset whose weights do not fit."""
    from imgtf.presets.preset_files import write_index

    saved = json.load(open(path / "hparams.json"))
    saved["hparams"]["hidden_size"] = 4
    (path / "hparams.json").write_text(json.dumps(saved))
    index = json.load(open(path / "preset.json"))
    write_index(path, {k: v for k, v in index.items() if k not in ("files", "format_version")})


def usr_dir_named(path):
    """hparams.json naming a folder of code this user once imported (trusted as a run's would be) and a problem only
    that code registers: a preset must still import nothing (the plugin would write a marker file)."""
    from imgtf import trusted_code
    from imgtf.presets.preset_files import write_index

    (path / "plugins").mkdir()
    (path / "plugins" / "evil_plugin.py").write_text(f"open({str(path / 'ran')!r}, 'w').write('ran')\n")
    trusted_code.remember(str(path / "plugins"))
    saved = json.load(open(path / "hparams.json"))
    saved.update(usr_dir="plugins", usr_dir_path=str(path / "plugins"), problem="plugin_digits")
    (path / "hparams.json").write_text(json.dumps(saved))
    write_index(path, {})


def unregistered_problem(path):
    from imgtf.presets.preset_files import write_index

    saved = json.load(open(path / "hparams.json"))
    saved["problem"] = "someones_own_digits"
    (path / "hparams.json").write_text(json.dumps(saved))
    write_index(path, {})


@pytest.mark.parametrize("edit, message", [
    (lambda p: rewrite_index(p, format_version=2), "format_version 2; this imgtf reads format_version 1"),
    (lambda p: os.remove(p / "model.weights.h5"), "model.weights.h5 is missing"),
    (lambda p: os.truncate(p / "model.weights.h5", 1000), "model.weights.h5 is truncated"),
    (lambda p: (p / "README.md").write_text((p / "README.md").read_text().replace("#", "%", 1)),
     "README.md is changed"),
    (lambda p: rewrite_index(p, files={**json.load(open(p / "preset.json"))["files"],
                                       "../escape.txt": {"bytes": 1, "sha256": "0"}}), "not a plain name inside"),
    (lambda p: (os.rename(p / "samples.png", p.parent / "outside.png"),
                os.symlink(p.parent / "outside.png", p / "samples.png")), "samples.png is a link"),
    (lambda p: (os.rename(p / "preset.json", p.parent / "index.json"),
                os.symlink(p.parent / "index.json", p / "preset.json")), "preset.json is a link"),
    (lambda p: os.remove(p / "preset.json"), "is not an imgtf preset"),
    (other_hparams, "its weights do not fit the model its hparams.json describes"),
    (usr_dir_named, "names code to import"),
    (unregistered_problem, "needs problem 'someones_own_digits', which nothing here registers"),
], ids=["version", "missing", "truncated", "changed", "path_out", "link_out", "index_link", "no_index", "mismatch", "usr_dir",
        "unregistered"])
def test_a_damaged_or_foreign_preset_is_refused(mnist_preset, tmp_path, edit, message):
    import imgtf
    from imgtf.presets.preset_files import PresetError

    _, preset_dir, _ = mnist_preset
    before = set(sys.modules)
    with pytest.raises(PresetError, match=message.replace("(", r"\(").replace(")", r"\)")):
        imgtf.load_preset(damaged(preset_dir, tmp_path, edit))
    assert not {m for m in set(sys.modules) - before if "plugin" in m or "someones" in m}
    assert not (tmp_path / "damaged" / "ran").exists()


def test_unknown_names_list_the_built_in_presets_and_a_run_is_not_overwritten(mnist_preset):
    import imgtf
    from imgtf.presets.preset import builtin_names

    run, _, _ = mnist_preset
    with pytest.raises(ValueError, match="no preset 'pixelcnn_mnist'.*built in: " + ", ".join(builtin_names())):
        imgtf.load_preset("pixelcnn_mnist")
    with pytest.raises(ValueError, match="writing there would replace it"):
        imgtf.save_preset(run, run, num_samples=0)
    assert (run / "hparams.json").exists()


def test_the_shipped_presets_load_by_name_and_state_their_held_out_figure():
    """Each built-in preset (package data) is whole, loads with no data, samples, and its card gives its figure."""
    import imgtf
    from imgtf.presets.preset import builtin_names

    names = builtin_names()
    assert {"pixelcnn_binarized_mnist", "diagonal_bilstm_binarized_mnist"} <= set(names)
    for name in names:
        preset = imgtf.load_preset(name)
        evaluation = preset.index["evaluation"]
        assert evaluation["num_images"] == 1000 and evaluation["nats_per_image_ci95_high"] is not None
        assert f"**{evaluation['nats_per_image']:.2f} nats per image**" in preset.card
        assert "Training time:" in preset.card and "minutes" in preset.card
    images = imgtf.load_preset("pixelcnn_binarized_mnist").model.sample(2, seed=1)
    assert images.shape == (2, 28, 28, 1) and set(np.unique(images)) <= {0, 1}
