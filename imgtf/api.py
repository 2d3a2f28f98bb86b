"""The Python entry points: `build_model` (a model from a set's and a problem's names) and `load_run` (a trained
run's model, problem and hparams, weights only), both reachable as `imgtf.build_model` / `imgtf.load_run`."""
import dataclasses
import os

import keras
import tensorflow as tf

from imgtf import catalog, registry
from imgtf.hparams.hparams import HParams, check_ranges
from imgtf.hparams.training import training_settings
from imgtf.models.factory import make_model
from imgtf.train import checkpoints, polyak, run_dir
from imgtf.train.optimization import build_optimizer


def build_model(hparams_set, problem=None, hparams="", model=None):
    """A built (variables created), untrained model: the set's registered model for `problem` (a registered name, a
    Problem instance, or None for the problem the set was registered with). `hparams`: overrides as on the command
    line ("hidden_size=64,num_decoder_layers=2") or a dict ({"hidden_size": 64}), range-checked as imgtf-trainer checks
    them; `model`: another registered model than the set's own."""
    catalog.load_builtins()
    if not isinstance(hparams_set, str) or not hparams_set:
        raise registry.RegistryError(f"hparams_set must be the name of a registered hparams set (a str), e.g. "
                                     f"'imagetransformer_cifar10_tiny'; got {hparams_set!r}. {registry.LIST_HINT}")
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
    hp.parse(hparams, source="hparams=")
    check_ranges(hp, source="hparams=")
    return make_model(model, hp, problem.info, hparams_set)


def restore_weights(model, spec, output_dir, checkpoint=None, averaged=True):
    """Restore a run's model weights; returns the checkpoint path (None if the run has none). A run trained with
    Polyak averaging (hparam ema_decay) gives its averaged weights, as its evaluations used, unless `averaged` is
    False (the raw weights of the last step).

    The trainer's checkpoints reach the weights of layers held in lists (decoder blocks, LSTM layers) only through
    the optimizer's list of the variables it trains (Keras 3 layer lists are not TensorFlow checkpoint
    dependencies), so a checkpoint of the model alone would silently restore only some weights. The weights are
    therefore restored through a throwaway optimizer of the run's settings, built over the same variables in the
    same order, and every variable must match; the optimizer and its state are dropped afterwards. Runs trained in
    float16 saved a loss-scaling optimizer: that form is tried second. The model's non-trainable state (dropout
    seeds, whether weight normalisation was initialised from data) is restored too."""
    optimizer = build_optimizer(training_settings(spec.hparams), model.width)
    errors = []
    for candidate in (optimizer, keras.optimizers.LossScaleOptimizer(optimizer)):
        candidate.build(model.trainable_variables)
        try:
            path = checkpoints.restore_newest(
                tf.train.Checkpoint(model=model, optimizer=candidate, rng_state=list(model.non_trainable_variables)),
                output_dir, checkpoint, partial=True)
        except checkpoints.CheckpointError as e:
            errors.append(e)
            continue
        if path is not None and averaged:
            polyak.use_averages(candidate)
        return path
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


def load_run(output_dir, checkpoint=None, data_dir=None, usr_dir=None, *, averaged=True, style="python"):
    """The run in `output_dir` with its newest readable checkpoint's (or `checkpoint`'s) weights: no optimizer, no
    checkpoint manager, nothing written. A run trained with Polyak averaging (hparam ema_decay) is loaded with its
    averaged weights (what its evaluations measured; the decoder and exporter use them); `averaged=False`: the raw
    weights of the checkpoint's step. `data_dir` binds the problem to data (for `run.problem.dataset`); `usr_dir`:
    the folder of the user's modules the run's problem, model or set come from, if it is not where the run recorded.
    `style`: messages name Python arguments ("python") or the commands' flags ("flag")."""
    catalog.load_builtins()
    registry.import_usr_dir(usr_dir, argument="usr_dir" if style == "python" else "--usr_dir")
    spec = run_dir.load(output_dir, usr_dir_argument="usr_dir=... to load_run" if style == "python" else "--usr_dir=...")
    if spec is None:
        raise run_dir.RunDirError(f"{output_dir} is not a run directory (no {run_dir.RUN_FILE}); train first.")
    check_ranges(spec.hparams, source=f"{os.path.join(output_dir, run_dir.RUN_FILE)}")
    problem = spec.make_problem(data_dir)
    info = spec.problem_info or problem.info  # the data's shapes when the run started, if recorded
    model = make_model(spec.model, spec.hparams, info, spec.hparams_set)
    path = restore_weights(model, spec, output_dir, checkpoint, averaged=averaged)
    if path is None:
        raise checkpoints.CheckpointError(f"no checkpoint in {output_dir}; train first (imgtf-trainer "
                                          f"--output_dir={output_dir} ...).")
    return Run(os.fspath(output_dir), model, problem, spec.hparams, path, spec)
