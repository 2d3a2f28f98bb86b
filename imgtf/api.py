"""The Python entry points: `build_model` (a model from a set's and a problem's names) and `load_run` (a trained
run's model, problem and hparams, weights only), both reachable as `imgtf.build_model` / `imgtf.load_run`."""
import dataclasses
import os

import keras
import tensorflow as tf

from imgtf import catalog, registry
from imgtf.hparams.hparams import HParams
from imgtf.hparams.training import training_settings
from imgtf.models.factory import make_model
from imgtf.train import checkpoints, run_dir
from imgtf.train.optimization import build_optimizer


def build_model(hparams_set, problem=None, hparams="", model=None):
    """A built (variables created), untrained model: the set's registered model for `problem` (a registered name, a
    Problem instance, or None for the problem the set was registered with). `hparams`: overrides as on the command
    line ("hidden_size=64,num_decoder_layers=2"); `model`: another registered model than the set's own."""
    catalog.load_builtins()
    declared_model, declared_problem = registry.model_and_problem_of(hparams_set)
    model = model or declared_model
    if model is None:
        raise registry.RegistryError(f"hparams set {hparams_set!r} was registered without a model; pass model=... "
                                     "(or register it with @register_hparams(model=...)).")
    problem = problem or declared_problem
    if problem is None:
        raise registry.RegistryError(f"hparams set {hparams_set!r} names no problem; pass problem=....")
    problem = registry.problem(problem) if isinstance(problem, str) else problem
    hp = registry.hparams(hparams_set)
    hp.parse(hparams)
    return make_model(model, hp, problem.info, hparams_set)


def restore_weights(model, spec, output_dir, checkpoint=None):
    """Restore a run's model weights; returns the checkpoint path (None if the run has none).

    The trainer's checkpoints reach the weights of layers held in lists (decoder blocks, LSTM layers) only through
    the optimizer's list of the variables it trains (Keras 3 layer lists are not TensorFlow checkpoint
    dependencies), so a checkpoint of the model alone would silently restore only some weights. The weights are
    therefore restored through a throwaway optimizer of the run's settings, built over the same variables in the
    same order, and every variable must match; the optimizer and its state are dropped afterwards. Runs trained in
    float16 saved a loss-scaling optimizer: that form is tried second."""
    optimizer = build_optimizer(training_settings(spec.hparams), model.width)
    errors = []
    for candidate in (optimizer, keras.optimizers.LossScaleOptimizer(optimizer)):
        candidate.build(model.trainable_variables)
        try:
            return checkpoints.restore_newest(tf.train.Checkpoint(model=model, optimizer=candidate), output_dir,
                                              checkpoint, partial=True)
        except checkpoints.CheckpointError as e:
            errors.append(e)
    raise errors[0]


@dataclasses.dataclass
class Run:
    """A trained run loaded for use in Python: `model` (weights restored), `problem`, `hparams` (the run's, model and
    training settings), `checkpoint` (the path restored) and `spec` (what hparams.json says)."""

    output_dir: str
    model: object
    problem: object
    hparams: HParams
    checkpoint: str
    spec: run_dir.RunSpec


def load_run(output_dir, checkpoint=None, data_dir=None):
    """The run in `output_dir` with its newest readable checkpoint's (or `checkpoint`'s) weights: no optimizer, no
    checkpoint manager, nothing written. `data_dir` binds the problem to data (for `run.problem.dataset`)."""
    catalog.load_builtins()
    spec = run_dir.load(output_dir)
    if spec is None:
        raise run_dir.RunDirError(f"{output_dir} is not a run directory (no {run_dir.RUN_FILE}); train first.")
    problem = spec.make_problem(data_dir)
    info = spec.problem_info or problem.info  # the data's shapes when the run started, if recorded
    model = make_model(spec.model, spec.hparams, info, spec.hparams_set)
    path = restore_weights(model, spec, output_dir, checkpoint)
    if path is None:
        raise checkpoints.CheckpointError(f"no checkpoint in {output_dir}; train first (imgtf-trainer "
                                          f"--output_dir={output_dir} ...).")
    return Run(os.fspath(output_dir), model, problem, spec.hparams, path, spec)
