"""The input contract (imgtf.models.inputs) at every Python entry point: log_prob, fit, evaluate, sample, build_model and
load_run refuse what the commands refuse, with one error type naming what was given and what is expected. Each case
was a silent score or a raw TensorFlow trace before (issue 29). The models are 8x8 tiny sets: every refusal comes
before any sampling, and only the dataset cases run a step."""
import numpy as np
import pytest
import tensorflow as tf

from helpers.models import build
from imgtf import build_model, load_run
from imgtf.hparams.hparams import HParamsError
from imgtf.errors import InputError
from imgtf.registry import RegistryError
from imgtf.train.run_dir import RunDirError

EXPECTED = r"targets must be integers in \[0, 256\) of shape \[batch, 8, 8, 3\]"


@pytest.fixture(scope="module")
def plain():
    model, _ = build("pixelcnn_cifar10_tiny", image_size=8, seed=0)
    model.compile(optimizer="adam")
    return model


@pytest.fixture(scope="module")
def classes():
    return build("imagetransformer_cifar10_cond_tiny", image_size=8, seed=0)[0]


def images(value=0, dtype=np.uint8, shape=(2, 8, 8, 3)):
    return np.full(shape, value, dtype)


@pytest.mark.parametrize("value, got", [(300, r"got int32 in \[300, 300\]"), (-1, r"got int32 in \[-1, -1\]")])
def test_log_prob_refuses_values_of_no_level(plain, value, got):
    """Values outside [0, 256) scored 0.0 nats (probability 1)."""
    with pytest.raises(InputError, match=f"{EXPECTED}; {got}"):
        plain.log_prob({"targets": images(value, np.int32)})


def test_normalised_float_images_are_refused_with_what_to_pass(plain):
    with pytest.raises(InputError, match=EXPECTED + r"; got float32 in \[0, 1\]: pass uint8 pixel values"):
        plain.log_prob({"targets": np.linspace(0, 1, 2 * 8 * 8 * 3, dtype=np.float32).reshape(2, 8, 8, 3)})
    with pytest.raises(InputError, match="not normalised floats"):
        plain.fit({"targets": images(0.5, np.float32)}, epochs=1, verbose=0)


@pytest.mark.parametrize("shape", [(2, 16, 16, 3), (2, 8, 8, 1), (8, 8, 3)])
def test_wrong_image_shapes_are_refused_by_log_prob_and_fit(plain, shape):
    with pytest.raises(InputError, match=EXPECTED + r"; got shape"):
        plain.log_prob({"targets": images(shape=shape)})
    with pytest.raises(InputError, match=EXPECTED + r"; got shape"):
        plain.fit({"targets": images(shape=shape)}, epochs=1, verbose=0)


def test_features_must_be_a_dict_with_targets(plain):
    with pytest.raises(InputError, match=r"takes a dict of features, e.g. \{'targets': images\}.*got a ndarray"):
        plain.log_prob(images())
    with pytest.raises(InputError, match=r"features have no 'targets'.*Got keys \['inputs'\]") as raised:
        plain.fit({"inputs": images()}, epochs=1, verbose=0)
    assert "\x1b[" not in str(raised.value)  # no terminal escapes from Keras's call wrapper


def test_a_dataset_with_values_of_no_level_is_refused_by_fit_and_evaluate(plain):
    """Inside tf.data the values are asserted per batch; the assertion comes back as the same InputError."""
    bad = tf.data.Dataset.from_tensor_slices({"targets": images(300, np.int32, (4, 8, 8, 3))}).batch(2)
    with pytest.raises(InputError, match=f"{EXPECTED}; got int32 in \\[300, 300\\]"):
        plain.fit(bad, epochs=1, verbose=0)
    with pytest.raises(InputError, match=f"{EXPECTED}; got int32 in \\[300, 300\\]"):
        plain.evaluate(bad, verbose=0)
    paired = tf.data.Dataset.from_tensor_slices(({"targets": images(0.5, np.float32, (4, 8, 8, 3))}, np.zeros(4)))
    with pytest.raises(InputError, match=r"targets must be integers.*got float32"):  # (features, y), as Keras takes them
        plain.evaluate(paired.batch(2), verbose=0)
    good = tf.data.Dataset.from_tensor_slices({"targets": images(7, shape=(4, 8, 8, 3))}).batch(2)
    assert plain.evaluate(good, verbose=0, return_dict=True)["bits_per_dim"] > 0


def test_evaluate_on_an_empty_dataset_says_so(plain):
    empty = tf.data.Dataset.from_tensor_slices({"targets": images(shape=(0, 8, 8, 3))}).batch(2)
    with pytest.raises(InputError, match="yielded no batches"):
        plain.evaluate(empty, verbose=0)


def test_labels_are_class_ids_of_the_problem(classes):
    with pytest.raises(InputError, match=r"label must be class ids in \[0, 10\) of shape \[batch\]; got int64 in "
                                         r"\[1, 10\]: the problem has 10 classes, 0..9"):
        classes.log_prob({"targets": images(), "label": np.array([1, 10])})
    for label in (10, -1):
        with pytest.raises(InputError, match=r"label must be class ids in \[0, 10\)"):
            classes.sample(1, label=label)
    with pytest.raises(InputError, match="conditioned on label: pass label=... to sample"):
        classes.sample(1)
    with pytest.raises(InputError, match=r"label must be class ids.*got float64"):
        classes.log_prob({"targets": images(), "label": np.array([1.0, 2.0])})


def test_conditioning_a_model_does_not_read_is_refused(plain, classes):
    """It was silently ignored: a user asking for class 3 got an unconditional image."""
    with pytest.raises(InputError, match="PixelCNN is not class-conditional: it does not read label="):
        plain.sample(1, label=3)
    with pytest.raises(InputError, match="is not conditioned on a low-resolution image: it does not read inputs="):
        classes.sample(1, label=3, inputs=np.zeros([2, 2, 3], np.uint8))


@pytest.mark.parametrize("kwargs, message", [
    ({"num_samples": 1.5}, r"^num_samples=1.5: must be a whole number >= 1, not a float\.$"),
    ({"num_samples": "2"}, r"^num_samples='2': must be a whole number >= 1, not a str\.$"),
    ({"num_samples": 0}, r"^num_samples=0: must be a whole number >= 1\.$"),
    ({"num_samples": True}, r"^num_samples=True: must be a whole number >= 1, not a bool\.$"),
    ({"seed": "abc"}, r"seed must be an integer; got 'abc' \(str\)"),
    ({"seed": 2 ** 70}, r"seed=1180591620717411303424 does not fit in 32 bits"),
    ({"temperature": "0.8"}, r"^temperature='0.8': must be a finite number > 0"),
    ({"temperature": 0.0}, r"^temperature=0.0: must be a finite number > 0"),
    ({"known": np.zeros([1, 8, 8, 3], np.uint8)}, r"pass known= and known_mask= together"),
])
def test_sampling_arguments_are_checked_with_python_names(plain, kwargs, message):
    with pytest.raises(InputError, match=message):
        plain.sample(**kwargs)


def test_build_model_checks_hparams_as_the_trainer_does(builtins):
    with pytest.raises(HParamsError, match=r"hidden_size=-4 \(must be >= 1\). Fix them in hparams="):
        build_model("pixelcnn_cifar10_tiny", hparams="hidden_size=-4")
    with pytest.raises(HParamsError, match=r"dropout=1.5 \(must be in \[0, 1\)\)"):
        build_model("imagetransformer_cifar10_tiny", hparams={"dropout": 1.5})
    with pytest.raises(HParamsError, match="malformed hparams= entry 'dropout'"):
        build_model("imagetransformer_cifar10_tiny", hparams="dropout")
    with pytest.raises(RegistryError, match="hparams_set must be the name of a registered hparams set.*got None"):
        build_model(None)
    model = build_model("pixelcnn_cifar10_tiny", hparams={"hidden_size": 8, "num_layers": 2})
    assert model.hparams.hidden_size == 8 and model.hparams.num_layers == 2


def test_load_run_takes_usr_dir_and_names_it_as_a_python_argument(trained_run, tmp_path, builtins):
    """A run whose --usr_dir moved: the message names load_run's usr_dir=, which load_run now takes."""
    import json
    import shutil

    from helpers import shared
    from helpers.usr import usr_module

    run_path, data_dir = trained_run("plain")
    run = tmp_path / "run"
    shared.copy(run_path, run)
    usr = tmp_path / "moved"
    usr.mkdir()
    (usr / "mine.py").write_text(usr_module("ContractFolderCifar", "contract_moved_set"))
    saved = json.loads((run / "hparams.json").read_text())
    saved.update(hparams_set="contract_moved_set", usr_dir="gone", usr_dir_path=str(tmp_path / "gone"))
    (run / "hparams.json").write_text(json.dumps(saved))
    try:
        with pytest.raises(RunDirError, match=r"Pass usr_dir=\.\.\. to load_run"):
            load_run(str(run))
        loaded = load_run(str(run), usr_dir=str(usr))
        assert loaded.spec.hparams_set == "contract_moved_set"
        with pytest.raises(RegistryError, match=r"usr_dir='nowhere': no such directory"):
            load_run(str(run), usr_dir="nowhere")
    finally:
        builtins.problems.unregister("contract_folder_cifar")
        builtins.hparams_sets.unregister("contract_moved_set")
    saved.update(hparams_set="imagetransformer_cifar10_tiny")
    saved.pop("usr_dir"), saved.pop("usr_dir_path")
    saved["hparams"]["hidden_size"] = -4
    (run / "hparams.json").write_text(json.dumps(saved))
    with pytest.raises(HParamsError, match=r"hidden_size=-4 \(must be >= 1\)"):
        load_run(str(run))
    shutil.rmtree(run)
