"""The Python entry points: `build_model` (a model from a set's and a problem's names) and `load_run` (a trained
run's model, problem and hparams, weights only), both reachable as `imgtf.build_model` / `imgtf.load_run`."""
import dataclasses
import os

from imgtf import catalog, registry, trusted_code
from imgtf.hparams.hparams import HParams, check_ranges
from imgtf.models.factory import make_model
from imgtf.train import checkpoints, run_dir
from imgtf.train.state import RunState


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
    """The run in `output_dir` with its newest readable checkpoint's (or `checkpoint`'s) weights, read through the run's
    state (imgtf.train.state.RunState, whose optimiser is dropped); nothing is written. A run trained with Polyak
    averaging (hparam ema_decay) is loaded with its averaged weights (what its evaluations measured; the decoder and
    exporter use them); `averaged=False`: the raw weights of the checkpoint's step. `data_dir` binds the problem to
    data (for `run.problem.dataset`); `usr_dir`: the folder of the user's modules the run's problem, model or set come
    from, if it is not where the run recorded or has changed since this user imported it (a run's remembered folder
    is imported only while its files are those this user imported explicitly: imgtf.trusted_code).
    `style`: messages name Python arguments ("python") or the commands' flags ("flag")."""
    catalog.load_builtins()
    registry.import_usr_dir(usr_dir, argument="usr_dir" if style == "python" else "--usr_dir")
    if usr_dir:
        trusted_code.remember(usr_dir)
    spec = run_dir.load(output_dir, usr_dir_argument="usr_dir=... to load_run" if style == "python" else "--usr_dir=...")
    if spec is None:
        raise run_dir.RunDirError(f"{output_dir} is not a run directory (no {run_dir.RUN_FILE}); train first.")
    problem = spec.make_problem(data_dir)
    info = spec.problem_info or problem.info  # the data's shapes when the run started, if recorded
    state = RunState.read(spec, output_dir, info, checkpoint, averaged=averaged)
    if state is None:
        raise checkpoints.CheckpointError(f"no checkpoint in {output_dir}; train first (imgtf-trainer "
                                          f"--output_dir={output_dir} ...).")
    return Run(os.fspath(output_dir), state.model, problem, spec.hparams, state.restored, spec)
