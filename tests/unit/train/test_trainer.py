"""The training loop on real CIFAR-10 with a tiny model: resume, the NaN guard, interrupts, time limits, evaluation,
steps per loop, sample grids, and loading a run back."""
import json
import os
import numpy as np
import pytest

from conftest import TINY_OVERRIDES
from helpers.models import smallest
from imgtf.train import run_dir
from imgtf.train.metrics import read_metrics
from imgtf.evaluation.evaluator import Evaluator


FOLDER = {"problem": "image_folder", "options": "image_size=8"}  # 8x8 real images: the loop, not the model, is tested
FOLDER_LABELS = {"problem": "image_folder", "options": "image_size=8,labels=true"}


def make_trainer(builtins, output_dir, data_dir, overrides="", problem="image_cifar10", options=""):
    from imgtf.train.trainer import Trainer

    spec = run_dir.resolve(str(output_dir), problem, "image_transformer", "imagetransformer_cifar10_tiny",
                           TINY_OVERRIDES + ("," + overrides if overrides else ""), problem_options=options)
    run_dir.save(spec, str(output_dir))
    return Trainer(spec, str(output_dir), data_dir, seed=3)


def weights(trainer):
    return [v.numpy().copy() for v in trainer.model.weights]


def test_resume_continues_exactly_where_it_stopped(builtins, cifar_folder, tmp_path):
    straight = make_trainer(builtins, tmp_path / "straight", cifar_folder, "dropout=0.1", **FOLDER)
    straight.train(4, checkpoint_every=2)

    first = make_trainer(builtins, tmp_path / "resumed", cifar_folder, "dropout=0.1", **FOLDER)
    assert first.train(2, checkpoint_every=2) == 2
    del first
    second = make_trainer(builtins, tmp_path / "resumed", cifar_folder, "dropout=0.1", **FOLDER)  # as a new process
    assert second.restore() == 2 and int(second.optimizer.iterations.numpy()) == 2
    assert second.train(4, checkpoint_every=2) == 4
    assert int(second.optimizer.iterations.numpy()) == 4
    for a, b in zip(weights(straight), weights(second)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert second.train(4) == 4  # already done: no extra steps


def test_nan_loss_stops_and_names_a_checkpoint_that_really_is_finite(builtins, cifar_folder, tmp_path):
    from imgtf.errors import NonFiniteLossError

    trainer = make_trainer(builtins, tmp_path, cifar_folder, **FOLDER)

    def diverge(step, loss):  # after step 3 the weights blow up; ckpt-3 is saved from them, step 4 is NaN
        if step == 3:
            for v in trainer.model.trainable_variables:
                v.assign(v * 1e30)

    with pytest.raises(NonFiniteLossError, match=r"loss became (nan|inf) at step 4.*finite loss is .*ckpt-2") as e:
        trainer.train(50, checkpoint_every=1, on_step=diverge)
    assert "learning rate" in str(e.value) and "diverged-ckpt-*" in str(e.value)
    assert sorted(f for f in os.listdir(tmp_path) if f.startswith("diverged-")) == [
        "diverged-ckpt-3.data-00000-of-00001", "diverged-ckpt-3.index"]  # kept, no longer resumed from
    fresh = make_trainer(builtins, tmp_path, cifar_folder, **FOLDER)
    evaluator = Evaluator.of(fresh)
    assert fresh.restore() == 2 and evaluator.evaluate("test", eval_steps=1)["bits_per_dim"] < 8.5
    # the diverged weights: evaluation says so (error, not exit 0) and metrics.jsonl stays strict JSON
    fresh.restore(str(tmp_path / "diverged-ckpt-3"))
    with pytest.raises(NonFiniteLossError, match="gave (nan|inf) bits/dim: these weights have diverged"):
        evaluator.evaluate("test", eval_steps=1)
    strict = [json.loads(line, parse_constant=lambda c: pytest.fail(f"{c} in metrics.jsonl"))
              for line in open(tmp_path / "metrics.jsonl")]
    assert strict[-1]["bits_per_dim"] is None and "bits_per_dim" in strict[-1]["non_finite"]


def test_nan_loss_with_no_finite_checkpoint_says_so(builtins, cifar_folder, tmp_path):
    from imgtf.errors import NonFiniteLossError

    trainer = make_trainer(builtins, tmp_path, cifar_folder, "learning_rate=1e30,learning_rate_schedule=constant",
                           **FOLDER)
    with pytest.raises(NonFiniteLossError, match="No checkpoint of this run gives a finite loss"):
        trainer.train(50, checkpoint_every=1)  # ckpt-1 holds weights after one step at 1e30: diverged already


def test_interrupt_saves_a_checkpoint(builtins, cifar_folder, tmp_path):
    trainer = make_trainer(builtins, tmp_path, cifar_folder, **FOLDER)

    def interrupt(step, loss):
        if step == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        trainer.train(10, checkpoint_every=100, on_step=interrupt)
    assert make_trainer(builtins, tmp_path, cifar_folder, **FOLDER).restore() == 3


def test_time_limit_stops_training_and_saves(builtins, cifar_folder, tmp_path):
    """A wall-clock budget (bench/compare_models) ends training early, with a checkpoint at the last step."""
    import time

    trainer = make_trainer(builtins, tmp_path, cifar_folder, **FOLDER)
    trainer.train(1)  # tracing is not part of the budget
    reached = trainer.train(1000, checkpoint_every=100, time_limit_s=1.0, on_step=lambda s, l: time.sleep(0.4))
    assert 2 <= reached <= 5
    assert make_trainer(builtins, tmp_path, cifar_folder, **FOLDER).restore() == reached


ODD_SPLIT = 17  # test images: batches of 4 or 16 leave a last batch of a single image


@pytest.fixture(scope="module")
def odd_folder(tmp_path_factory, cifar_dir):
    """Real CIFAR-10 images as an image folder with a test split of ODD_SPLIT images."""
    from conftest import cifar_as_folder

    return cifar_as_folder(tmp_path_factory.mktemp("odd_folder"), cifar_dir, {"train": 4, "test": ODD_SPLIT})


def test_evaluation_covers_the_whole_split_and_is_recorded(builtins, odd_folder, tmp_path):
    n, images = ODD_SPLIT, odd_folder  # real 8x8 test images at batch 4: the last batch holds a single image
    trainer = make_trainer(builtins, tmp_path / "run", images, **FOLDER)
    entry = Evaluator.of(trainer).evaluate("test")
    assert entry["num_images"] == n and entry["whole_split"] and entry["split"] == "test"
    assert 7.0 < entry["bits_per_dim"] < 9.0  # an untrained model is close to uniform (8 bits/dim)
    # bits/dim is the mean NLL in nats over all sub-pixels / ln 2: recompute it directly
    import tensorflow as tf

    total = sum(-float(tf.reduce_sum(trainer.model.log_prob(b))) for b in
                trainer.problem.dataset("test", images, 256))
    assert entry["bits_per_dim"] == pytest.approx(total / (n * 8 * 8 * 3 * np.log(2)), rel=1e-5)
    assert entry["nats_per_image"] == pytest.approx(total / n, rel=1e-5)  # binary benchmarks' unit
    partial = Evaluator.of(trainer).evaluate("test", eval_steps=2)
    assert partial["num_images"] == 8 and not partial["whole_split"]
    assert [m["num_images"] for m in read_metrics(str(tmp_path / "run"))] == [n, 8]


def test_run_dir_of_another_format_version_is_refused_with_what_to_do(builtins, tmp_path):
    spec = run_dir.resolve(str(tmp_path), "image_cifar10", "image_transformer", "imagetransformer_cifar10_tiny")
    run_dir.save(spec, str(tmp_path))
    saved = json.load(open(tmp_path / run_dir.RUN_FILE))
    assert saved["format_version"] == run_dir.FORMAT_VERSION and run_dir.load(str(tmp_path)).model == spec.model
    for version in (None, run_dir.FORMAT_VERSION + 1):
        saved["format_version"] = version
        (tmp_path / run_dir.RUN_FILE).write_text(json.dumps(saved))
        with pytest.raises(run_dir.RunDirError, match=rf"format_version {version}; .* new --output_dir"):
            run_dir.load(str(tmp_path))


def test_run_dir_refuses_conflicting_overrides(builtins, tmp_path):
    """Once a run has a checkpoint; before one (a first start that failed, e.g. out of memory), nothing was trained
    under its hparams.json and a new request replaces it."""
    spec = run_dir.resolve(str(tmp_path), "image_cifar10", "image_transformer", "imagetransformer_cifar10_tiny",
                           "hidden_size=32")
    run_dir.save(spec, str(tmp_path))
    assert run_dir.resolve(str(tmp_path), overrides="hidden_size=64").hparams.hidden_size == 64
    (tmp_path / "ckpt-1.index").write_bytes(b"")  # a checkpoint trained under hidden_size=32
    again = run_dir.resolve(str(tmp_path), overrides="hidden_size=32")  # same value: fine, names reloaded
    assert again.hparams.hidden_size == 32 and again.problem == "image_cifar10"
    with pytest.raises(run_dir.RunDirError, match=r"hidden_size=64 \(saved: 32\)"):
        run_dir.resolve(str(tmp_path), overrides="hidden_size=64")
    with pytest.raises(run_dir.RunDirError, match="--hparams_set=imagetransformer_cifar10_base conflicts"):
        run_dir.resolve(str(tmp_path), hparams_set="imagetransformer_cifar10_base")
    with pytest.raises(run_dir.RunDirError, match="--problem --model --hparams_set required"):
        run_dir.resolve(str(tmp_path / "fresh"))


# The families the suite trains by name nowhere else (the shared runs, test_learning, test_commands and the family
# tests train the others through the Trainer), at the suite's smallest depth on real 8x8 images
@pytest.mark.parametrize("hparams_set", ["row_lstm_cifar10_tiny", "diagonal_bilstm_cifar10_tiny",
                                         "pixelsnail_cifar10_tiny"])
def test_every_family_trains_and_evaluates_by_name(builtins, cifar_folder, tmp_path, hparams_set):
    from imgtf.train.trainer import Trainer

    model, _ = builtins.model_and_problem_of(hparams_set)
    spec = run_dir.resolve(str(tmp_path), FOLDER["problem"], model, hparams_set,
                           smallest(hparams_set, "batch_size=4,eval_batch_size=4"), problem_options=FOLDER["options"])
    trainer = Trainer(spec, str(tmp_path), cifar_folder)
    assert trainer.train(2, log_every=1) == 2
    entry = Evaluator.of(trainer).evaluate("test", eval_steps=2)
    # 2 steps from the start: a discretised logistic mixture with unit scales (PixelSNAIL's, and with weight
    # normalisation's data-dependent init its unit-variance outputs, as in the authors' code) starts at ~9-9.5 bits/dim
    assert entry["num_images"] == 8 and 5.0 < entry["bits_per_dim"] < 10.0


def test_evaluation_that_cannot_be_recorded_still_reports_its_result(builtins, cifar_folder, tmp_path, caplog):
    """A read-only run directory (simulated: root ignores permissions): the figure is logged before the write,
    and the error says it was computed and why it was not recorded."""
    from imgtf.errors import TrainingError

    import logging

    caplog.set_level(logging.INFO, logger="imgtf")
    trainer = make_trainer(builtins, tmp_path, cifar_folder, **FOLDER)
    trainer.train(1)
    trainer.metrics.path = str(tmp_path)  # a directory: appending to it fails like a read-only file system
    with pytest.raises(TrainingError, match=r"evaluation finished \(\d\.\d{4} bits/dim on test, 4 images, step 1"):
        Evaluator.of(trainer).evaluate("test", eval_steps=1)
    assert "eval test @ step 1:" in caplog.text


def test_sample_grids_reach_tensorboard_during_training(builtins, cifar_folder, tmp_path):
    """--sample_every_steps: a grid from the model's cached sampler is written as a TensorBoard image."""
    import tensorflow as tf

    trainer = make_trainer(builtins, tmp_path / "run", cifar_folder, "class_conditional=true", **FOLDER_LABELS)
    trainer.train(2, sample_every=2)
    events = tf.io.gfile.glob(str(tmp_path / "run" / "samples" / "events.out.tfevents.*"))
    images = [(event.step, value) for path in events for event in tf.compat.v1.train.summary_iterator(path)
              for value in event.summary.value if value.tag == "samples"]
    assert [step for step, _ in images] == [2]
    grid = tf.io.decode_png(tf.make_ndarray(images[0][1].tensor)[2]).numpy()  # [width, height, png]
    assert grid.shape[-1] == 3 and grid.shape[0] >= 8 * 4 and grid.std() > 0  # 4 class-conditional 8x8 samples


def test_progress_reports_done_total_rate_and_time_left(caplog):
    import logging

    from imgtf.progress import Progress

    with caplog.at_level(logging.INFO, logger="imgtf"):
        with Progress("eval test", total=10, unit="images", interval=0.0) as progress:
            progress.update(4)
        with pytest.raises(RuntimeError), Progress("datagen", total=None, interval=0.0) as progress:
            progress.update(3)
            raise RuntimeError("disk full")
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0].startswith("eval test: 4/10 images (40%)") and "images/s | ETA" in lines[0]
    assert "done after" in lines[1] and "datagen: 3 images" in lines[2] and "stopped after" in lines[-1]


def test_load_run_restores_every_weight_without_the_optimizer(builtins, cifar_folder, tmp_path):
    """imgtf.load_run gives the trained weights, all of them: a checkpoint of the model alone would miss the layers
    Keras holds in lists (decoder blocks), which the trainer's checkpoints reach only through the optimizer."""
    import imgtf

    trainer = make_trainer(builtins, tmp_path / "run", cifar_folder, "num_decoder_layers=2", **FOLDER)
    trainer.train(2)
    run = imgtf.load_run(str(tmp_path / "run"))
    assert run.checkpoint.endswith("ckpt-2") and not hasattr(run, "optimizer")
    trained = {v.path.split("/", 1)[1]: v.numpy() for v in trainer.model.weights}
    loaded = {v.path.split("/", 1)[1]: v.numpy() for v in run.model.weights}
    assert trained.keys() == loaded.keys() and len(trained) > 20
    for name, value in trained.items():
        np.testing.assert_array_equal(loaded[name], value, err_msg=name)


def test_steps_per_loop_gives_the_same_steps_weights_and_checkpoints(builtins, cifar_folder, tmp_path):
    """16 steps run one per call, or up to 2 or 8 per compiled call (8x8 real images): a loss reported for every step
    in order, checkpoints at the same steps (a call never runs past a step at which something is due) and the same
    weights: identical between loops of 2 and 8 (one graph), equal to float rounding with the step graph of N = 1."""
    runs = {}
    for per_loop in (1, 2, 8):
        trainer = make_trainer(builtins, tmp_path / f"loop{per_loop}", cifar_folder, "dropout=0.1",
                               problem="image_folder", options="image_size=8")
        seen = []
        assert trainer.train(16, checkpoint_every=6, log_every=5, steps_per_loop=per_loop,
                             on_step=lambda step, loss: seen.append((step, loss))) == 16
        saved = sorted(int(f.split("-")[1].split(".")[0]) for f in os.listdir(tmp_path / f"loop{per_loop}")
                       if f.startswith("ckpt-") and f.endswith(".index"))
        runs[per_loop] = (weights(trainer), seen, saved)
    (one, seen_one, saved_one), (two, _, saved_two), (eight, seen_eight, saved_eight) = runs[1], runs[2], runs[8]
    assert [s for s, _ in seen_eight] == list(range(1, 17)) and saved_one == saved_two == saved_eight == [6, 12, 16]
    np.testing.assert_allclose([l for _, l in seen_eight], [l for _, l in seen_one], rtol=1e-5)
    for a, b, c in zip(one, two, eight):
        np.testing.assert_array_equal(c, b)
        np.testing.assert_allclose(c, a, rtol=1e-4, atol=1e-6)


def test_evaluation_runs_larger_batches_traced_once(builtins, odd_folder, tmp_path):
    """The evaluation batch defaults to 4 x the training batch; the whole split (17 images: a last batch of 1) and
    a second evaluation reuse one trace of the evaluation step, and the result does not depend on the batch."""
    trainer = make_trainer(builtins, tmp_path / "default", odd_folder, "eval_batch_size=0", **FOLDER)
    evaluator = Evaluator.of(trainer)
    assert evaluator.batch_size == 16  # 4 x batch_size 4
    entry = evaluator.evaluate("test")
    assert entry["num_images"] == ODD_SPLIT and entry["whole_split"]
    assert evaluator.evaluate("test")["bits_per_dim"] == entry["bits_per_dim"]
    assert evaluator.step_fn.experimental_get_tracing_count() == 1
    small = make_trainer(builtins, tmp_path / "small", odd_folder, **FOLDER)  # eval_batch_size=4, same initial weights
    assert Evaluator.of(small).evaluate("test")["bits_per_dim"] == pytest.approx(entry["bits_per_dim"], rel=1e-6)


def test_recompute_trains_the_paper_sets_dropout_configuration(builtins, cifar_dir, tmp_path):
    """The paper's sets: residual dropout on, attention-weight and ReLU dropout off (Keras gives a Dropout of rate 0
    no seed generator), through the trainer's compiled step."""
    from imgtf.train import run_dir
    from imgtf.train.trainer import Trainer

    spec = run_dir.resolve(str(tmp_path), "image_cifar10", "image_transformer", "imagetransformer_cifar10_tiny",
                           TINY_OVERRIDES + ",dropout=0.3,attention_dropout=0.0,relu_dropout=0.0,recompute=true")
    trainer = Trainer(spec, str(tmp_path), cifar_dir)
    assert trainer.train(2, log_every=1) == 2


def test_a_problem_yielding_values_of_no_level_stops_training_with_the_contract(builtins, cifar_folder, tmp_path):
    """A user's problem whose pipeline yields int32 values past 255 (or floats) is refused by the trainer's dataset:
    the structure when the pipeline is built, the values at the first batch, as the same InputError as in Keras."""
    import tensorflow as tf

    from imgtf.errors import InputError
    from imgtf.problems.image_folder import ImageFolderProblem
    from imgtf.registry import register_problem

    @register_problem
    class OverflowingFolder(ImageFolderProblem):
        def preprocess(self, example):
            features = super().preprocess(example)
            return {**features, "targets": tf.cast(features["targets"], tf.int32) * 2}

    @register_problem
    class NormalisedFolder(ImageFolderProblem):
        def preprocess(self, example):
            features = super().preprocess(example)
            return {**features, "targets": tf.cast(features["targets"], tf.float32) / 255.0}

    try:
        trainer = make_trainer(builtins, tmp_path / "over", cifar_folder, problem="overflowing_folder",
                               options="image_size=8")
        with pytest.raises(InputError, match=r"targets must be integers in \[0, 256\) of shape \[batch, 8, 8, 3\]; got "
                                             r"int32 in \[\d+, \d+\]"):
            trainer.train(2)
        assert trainer.restore() == 0  # no step was taken, no checkpoint written
        trainer = make_trainer(builtins, tmp_path / "norm", cifar_folder, problem="normalised_folder",
                               options="image_size=8")
        with pytest.raises(InputError, match=r"targets must be integers in \[0, 256\).*; got float32: pass the pixel "
                                             r"values as integers"):
            trainer.train(2)
    finally:
        builtins.problems.unregister("overflowing_folder")
        builtins.problems.unregister("normalised_folder")
