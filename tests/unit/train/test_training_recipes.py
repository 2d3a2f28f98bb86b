"""The papers' training recipes in the loop: Polyak averages (hparam ema_decay) follow their recursion, are saved in
checkpoints and are what evaluation, load_run (the decoder's and exporter's) and checkpoint averaging use; weight normalisation's
data-dependent initialisation runs once before step 1, by the trainer or `fit`, and a resumed run does not redo it."""
import os

import keras
import numpy as np
import pytest

from helpers import shared
from helpers.models import build, real_features, smallest
from imgtf.train import polyak, run_dir
from imgtf.train.optimization import Adam
from imgtf.evaluation.evaluator import Evaluator

# The recipes (PixelCNN++'s and PixelSNAIL's: weight normalisation initialised from data, Polyak averages) act on
# every weight-normalised layer and every variable alike, whatever the family: the cheapest family that takes them,
# a Gated PixelCNN at the shrink rule's depth, weight-normalised, on 8x8 real images, carries them as the paper sets
# do (the harness checks every tiny set, PixelCNN++'s and PixelSNAIL's weight-normalised ones included)
SET = "gated_pixelcnn_cifar10_tiny"
SMALL = smallest(SET, "weight_norm=true")
DECAY = 0.5  # a few steps move the average visibly


def make_trainer(output_dir, data_dir, overrides=f"ema_decay={DECAY}"):
    from imgtf.train.trainer import Trainer

    spec = run_dir.resolve(str(output_dir), "image_folder", "gated_pixelcnn", SET,
                           f"{SMALL},batch_size=4,eval_batch_size=4,{overrides}", problem_options="image_size=8")
    run_dir.save(spec, str(output_dir))
    return Trainer(spec, str(output_dir), data_dir, seed=3)


@pytest.fixture(scope="module")
def averaged_run(builtins, cifar_folder, tmp_path_factory):
    """4 steps with a checkpoint at each, the raw weights after every step, and the steps at which the model's
    data-dependent initialisation ran."""
    out = tmp_path_factory.mktemp("polyak") / "run"
    trainer = make_trainer(out, cifar_folder)
    raw, initialised = [], []
    model_class = type(trainer.model)
    original = model_class.initialize_from_data
    model_class.initialize_from_data = lambda self, batch: initialised.append(int(trainer.step.numpy())) or original(
        self, batch)
    try:
        trainer.train(4, checkpoint_every=1, on_step=lambda step, loss: raw.append(
            [v.numpy().astype(np.float64) for v in trainer.model.trainable_variables]))
    finally:
        model_class.initialize_from_data = original
    return trainer, out, raw, initialised


def test_the_average_equals_its_recursion_and_is_checkpointed(averaged_run, cifar_folder):
    trainer, out, raw, _ = averaged_run
    expected = raw[0]  # a_1 = w_1
    for weights in raw[1:]:
        expected = [DECAY * a + (1 - DECAY) * w for a, w in zip(expected, weights)]
    averages = polyak.averages(trainer.optimizer)
    assert len(averages) == len(expected) == len(trainer.model.trainable_variables)
    for a, e in zip(averages, expected):
        np.testing.assert_allclose(a.numpy(), e, rtol=1e-6, atol=1e-7)
    assert max(float(np.abs(a.numpy() - w).max()) for a, w in zip(averages, raw[-1])) > 1e-4  # not the raw weights
    resumed = make_trainer(out, cifar_folder)
    assert resumed.restore() == 4
    for a, b in zip(polyak.averages(resumed.optimizer), averages):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_data_init_runs_once_before_step_one_and_not_on_resume(averaged_run, cifar_folder, tmp_path, monkeypatch):
    _, out, _, initialised = averaged_run
    assert initialised == [0]  # before the first step, once
    resumed = make_trainer(shared.copy(str(out), str(tmp_path / "run")), cifar_folder)
    monkeypatch.setattr(type(resumed.model), "initialize_from_data", lambda self, batch: pytest.fail("ran again"))
    assert resumed.restore() == 4 and not resumed.model.needs_data_initialization  # the checkpoint says it ran
    assert resumed.train(5) == 5


def test_evaluation_and_load_run_use_the_averages(averaged_run):
    """Evaluation and load_run (hence the decoder and the exporter, which load through it) use the averages."""
    import imgtf

    trainer, out, raw, _ = averaged_run
    averages = [a.numpy() for a in polyak.averages(trainer.optimizer)]
    evaluator = Evaluator.of(trainer)
    averaged = evaluator.evaluate("test", eval_steps=2)
    assert averaged["weights"] == "polyak_average"
    for v, w in zip(trainer.model.trainable_variables, raw[-1]):  # training goes on from the raw weights
        np.testing.assert_array_equal(v.numpy(), w.astype(np.float32))
    plain = evaluator.evaluate("test", eval_steps=2, averaged=False)
    assert plain["weights"] == "raw" and plain["bits_per_dim"] != averaged["bits_per_dim"]
    with polyak.averaged_weights(trainer.optimizer):  # the shadow weights themselves, evaluated as raw
        assert evaluator.evaluate("test", eval_steps=2, averaged=False)["bits_per_dim"] == averaged["bits_per_dim"]

    run = imgtf.load_run(str(out))
    for v, a in zip(run.model.trainable_variables, averages):
        np.testing.assert_array_equal(v.numpy(), a)
    for v, w in zip(imgtf.load_run(str(out), averaged=False).model.trainable_variables, raw[-1]):
        np.testing.assert_array_equal(v.numpy(), w.astype(np.float32))



def test_checkpoint_averaging_averages_the_polyak_averages_too(averaged_run, cifar_folder, tmp_path):
    from imgtf.train.averaging import average_checkpoints

    trainer, out, _, _ = averaged_run
    per_checkpoint = []
    for step in (3, 4):
        trainer.restore(os.path.join(out, f"ckpt-{step}"))
        per_checkpoint.append([a.numpy().astype(np.float64) for a in polyak.averages(trainer.optimizer)])
    average_checkpoints(str(out), str(tmp_path / "avg"), num_last=2)
    averaged = make_trainer(tmp_path / "avg", cifar_folder)
    averaged.restore()
    for a, x, y in zip(polyak.averages(averaged.optimizer), *per_checkpoint):
        np.testing.assert_allclose(a.numpy(), (x + y) / 2, rtol=1e-6, atol=1e-7)


def test_trainer_data_init_standardises_the_first_batch(builtins, cifar_folder, tmp_path):
    """The real initialisation: the output layer's parameters start at mean 0 and standard deviation 1 per channel on
    the first training batch (the trainer's own), and the scales differ from their constructor value."""
    trainer = make_trainer(tmp_path, cifar_folder, "ema_decay=0.0,batch_size=16")
    trainer.initialize_from_data()
    batch = next(iter(trainer.problem.dataset(trainer.problem.train_split, cifar_folder, 16, shuffle=True, seed=3)))
    params = keras.ops.convert_to_numpy(trainer.model(batch, training=False)).reshape(-1, trainer.model.likelihood.params_per_unit)
    np.testing.assert_allclose(params.mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(params.std(axis=0), 1.0, rtol=1e-3)
    assert not trainer.model.needs_data_initialization


def test_fit_initialises_from_its_first_batch_once_and_the_keras_file_keeps_that(cifar_dir, tmp_path, monkeypatch):
    model, problem = build(SET, SMALL, image_size=8, seed=0)
    features = real_features(problem, cifar_dir, n=8, split="train", size=8)
    model.compile(optimizer=Adam(1e-3))
    seen = []
    original = type(model).initialize_from_data
    monkeypatch.setattr(type(model), "initialize_from_data",
                        lambda self, batch: seen.append(len(batch["targets"])) or original(self, batch))
    model.fit(features, batch_size=4, epochs=1, verbose=0)
    model.fit(features, batch_size=4, epochs=1, verbose=0)
    assert seen == [4]  # the first batch of the first fit only
    path = str(tmp_path / "model.keras")
    model.save(path)
    assert not keras.saving.load_model(path).needs_data_initialization

    fresh, _ = build(SET, SMALL, image_size=8, seed=0)
    fresh.compile(optimizer=Adam(1e-3))
    with pytest.raises(Exception, match="initialize_from_data"):
        fresh.fit(iter([features]), steps_per_epoch=1, verbose=0)


def test_polyak_averaging_and_weight_norm_settings_are_range_checked(builtins):
    from imgtf.hparams.hparams import HParamsError, check_ranges

    for bad in ("1.0", "-0.1"):
        hp = builtins.hparams(SET)
        hp.parse(f"ema_decay={bad}")
        with pytest.raises(HParamsError, match=r"ema_decay=.*must be in \[0, 1\)"):
            check_ranges(hp)
    paper = builtins.hparams("pixelcnn_pp_cifar10")
    assert paper.weight_norm and paper.ema_decay == 0.9995
    assert builtins.hparams("pixelsnail_cifar10").ema_decay == 0.9995
