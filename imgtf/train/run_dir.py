"""A run directory's identity: which problem, model and hparams it trains, saved as `hparams.json`.

The first run writes it; every later command in the same `--output_dir` reloads it, so a resumed run
trains the same model even if the named set has changed in code since. An override or name that
conflicts with the saved run is refused: silently training a different model into old checkpoints
would corrupt the run. The file carries a `format_version`; a run of another version is refused with what to do.
"""
import dataclasses
import glob
import json
import os

from imgtf import registry, trusted_code
from imgtf.errors import TrainingError
from imgtf.hparams.hparams import HParams, check_ranges, check_types

RUN_FILE = "hparams.json"
FORMAT_VERSION = 1  # of hparams.json; raise it when a change would make an older file mean something else


class RunDirError(ValueError):
    pass


@dataclasses.dataclass
class RunSpec:
    problem: str
    model: str
    hparams_set: str
    hparams: HParams
    overrides: str = ""
    problem_options: str = ""  # --problem_options of configurable problems (e.g. image_folder)
    problem_info: dict = None  # the data's shapes and class count when the run started (checked on resuming)
    usr_dir: str = ""  # --usr_dir the run was created with, as given ...
    usr_dir_path: str = ""  # ... and as an absolute path: later commands import it themselves
    random_seed: int = None  # --random_seed of its first training: a resumed run goes on with it
    init_from: dict = None  # the preset whose weights the run started from (--init_from): name, step, weights' SHA-256

    def to_json(self):
        saved = {"format_version": FORMAT_VERSION, "problem": self.problem, "model": self.model, "hparams_set": self.hparams_set,
                 "overrides": self.overrides, "problem_options": self.problem_options, "hparams": self.hparams.values()}
        if self.problem_info is not None:
            saved["problem_info"] = self.problem_info
        if self.usr_dir:
            saved["usr_dir"], saved["usr_dir_path"] = self.usr_dir, self.usr_dir_path
        if self.random_seed is not None:
            saved["random_seed"] = self.random_seed
        if self.init_from is not None:
            saved["init_from"] = self.init_from
        return json.dumps(saved, indent=2, sort_keys=True)

    def make_problem(self, data_dir=None):
        """The registered problem, configured with the run's problem options and bound to data_dir."""
        problem = registry.problem(self.problem)
        problem.configure(self.problem_options)
        if data_dir is not None:
            problem.bind(data_dir)
        return problem


def load(output_dir, usr_dir_argument="--usr_dir=..."):
    """The RunSpec saved in `output_dir`, or None if it has none. `usr_dir_argument`: what to pass when the run's
    --usr_dir has moved, as the caller takes it (a flag, or a Python argument)."""
    path = os.path.join(output_dir, RUN_FILE)
    if not os.path.exists(path):
        return None
    try:
        with open(path) as f:
            saved = json.load(f)
    except ValueError as e:
        raise RunDirError(f"{path} is unreadable ({type(e).__name__}: {e}); restore it or use a new --output_dir.") from e
    version = saved.get("format_version") if isinstance(saved, dict) else None
    if version != FORMAT_VERSION:
        raise RunDirError(f"{path} has format_version {version!r}; this imgtf reads format_version "
                          f"{FORMAT_VERSION}. Train in a new --output_dir, or use the imgtf version "
                          "that wrote the run.")
    try:
        spec = RunSpec(saved["problem"], saved["model"], saved["hparams_set"], HParams.from_dict(saved["hparams"]),
                       saved.get("overrides", ""), saved.get("problem_options", ""), saved.get("problem_info"),
                       saved.get("usr_dir", ""), saved.get("usr_dir_path", ""), saved.get("random_seed"),
                       saved.get("init_from"))
        if spec.init_from is not None and not isinstance(spec.init_from, dict):
            raise TypeError(f"init_from must be an object, not {spec.init_from!r}")
        if spec.random_seed is not None and (isinstance(spec.random_seed, bool) or
                                             not isinstance(spec.random_seed, int)):
            raise TypeError(f"random_seed must be an integer, not {spec.random_seed!r}")
    except (ValueError, KeyError, TypeError) as e:
        raise RunDirError(f"{path} is unreadable ({type(e).__name__}: {e}); restore it or use a new --output_dir.") from e
    import_saved_usr_dir(spec, output_dir, usr_dir_argument)
    if spec.hparams_set in registry.hparams_sets:  # values edited by hand are refused before any layer sees them
        check_types(spec.hparams, registry.hparams(spec.hparams_set), path)
    check_ranges(spec.hparams, source=path)
    return spec


def import_saved_usr_dir(spec, output_dir, usr_dir_argument="--usr_dir=..."):
    """A run created with --usr_dir names problems, models, sets or likelihoods only that directory registers. When
    they are not registered yet, import it again (from its absolute path, else as given relative to here) so that
    later commands on the run work without the flag, but only if its modules are exactly those this user imported
    explicitly on this machine (imgtf.trusted_code): a run can come from someone else, and importing runs code.
    Otherwise, or if it is gone, say which files it would run and which flag to pass."""
    if not spec.usr_dir:
        return
    missing = unregistered_names(spec)
    if not missing:
        return  # registered already (built in, or the user passed the folder): nothing to import
    for candidate in (spec.usr_dir_path, spec.usr_dir):
        if candidate and os.path.isdir(candidate):
            if not trusted_code.is_trusted(candidate):
                files = trusted_code.modules_of(candidate)
                shown = ", ".join(files[:8]) + (f" and {len(files) - 8} more" if len(files) > 8 else "")
                raise RunDirError(
                    f"the run in {output_dir} names code to import: {', '.join(missing)} come from --usr_dir="
                    f"{spec.usr_dir} ({os.path.realpath(candidate)}: {shown or 'no Python files'}), which you have "
                    "not imported on this machine as it is now. Importing runs that code, and a run can come from "
                    f"anyone: read the files, then pass {usr_dir_argument.replace('...', os.path.realpath(candidate))} "
                    "to import them.")
            registry.import_usr_dir(candidate)
            return
    raise RunDirError(f"the run in {output_dir} was created with --usr_dir={spec.usr_dir} ({spec.usr_dir_path}), "
                      f"which is no longer there, and {', '.join(missing)} come from it. Pass {usr_dir_argument} "
                      "(the folder with those modules now).")


def unregistered_names(spec):
    """What the run names that no registry table holds yet, as "problem 'x'", "model 'y'", ..."""
    wanted = [("problem", registry.problems, spec.problem), ("model", registry.models, spec.model),
              ("hparams set", registry.hparams_sets, spec.hparams_set)]
    if "likelihood" in spec.hparams.values():
        wanted.append(("likelihood", registry.likelihoods, spec.hparams.likelihood))
    return [f"{kind} {name!r}" for kind, table, name in wanted if name not in table.names()]


def save(spec, output_dir):
    """Write hparams.json atomically (a crash never leaves a half-written file)."""
    os.makedirs(output_dir, exist_ok=True)
    path = os.path.join(output_dir, RUN_FILE)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(spec.to_json())
    os.replace(tmp, path)


def resolve(output_dir, problem=None, model=None, hparams_set=None, overrides="", problem_options="", usr_dir=None):
    """The RunSpec to use: the saved one (checked against the request) or a new one from the registry."""
    if output_dir and os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise RunDirError(f"--output_dir={output_dir} is a file, not a directory: choose a directory (new or a run's).")
    saved = load(output_dir) if output_dir else None
    if saved is not None and (problem or model or hparams_set or overrides) and not _has_checkpoints(output_dir):
        # its first start failed before a checkpoint (e.g. out of memory): nothing was trained under it, so the request
        # replaces it, with the saved names where it gives none
        if hparams_set in (None, saved.hparams_set):
            model = model or saved.model
        problem, hparams_set = problem or saved.problem, hparams_set or saved.hparams_set
        problem_options = problem_options or saved.problem_options
        usr_dir = usr_dir or saved.usr_dir_path or None
        saved = None
    if saved is None:
        if hparams_set and not model and hparams_set in registry.hparams_sets:
            model = registry.model_and_problem_of(hparams_set)[0]  # the model the set was registered for
        missing = [f"--{n}" for n, v in (("problem", problem), ("model", model), ("hparams_set", hparams_set)) if not v]
        if missing:
            raise RunDirError(f"{' '.join(missing)} required: {output_dir!r} holds no {RUN_FILE} to resume from.")
        registry.problems.get(problem)
        registry.models.get(model)
        hp = registry.hparams(hparams_set)
        hp.parse(overrides)
        check_ranges(hp)
        spec = RunSpec(problem, model, hparams_set, hp, overrides or "", problem_options or "")
        if usr_dir:
            spec.usr_dir, spec.usr_dir_path = usr_dir, os.path.abspath(os.path.expanduser(usr_dir))
        spec.make_problem()  # validates the options now, before anything is written
        return spec
    for flag, asked, have in (("problem", problem, saved.problem), ("model", model, saved.model),
                              ("hparams_set", hparams_set, saved.hparams_set)):
        if asked and asked != have:
            raise RunDirError(
                f"--{flag}={asked} conflicts with the run in {output_dir} ({flag} {have!r}, from {RUN_FILE}). "
                f"Use a new --output_dir for a different run, or drop --{flag} to resume this one.")
    if problem_options:
        requested_options = saved.make_problem().configure(problem_options)
        expected = saved.make_problem()
        clashes = {k: v for k, v in requested_options.items() if getattr(expected, k) != v}
        if clashes:
            raise RunDirError(
                f"--problem_options={problem_options} conflicts with the run saved in {output_dir}/{RUN_FILE} "
                f"(problem_options {saved.problem_options!r}). Use a new --output_dir to change them.")
    requested = saved.hparams.copy()
    changed = requested.parse(overrides)
    conflicts = {k: v for k, v in changed.items() if saved.hparams.get(k) != v}
    if conflicts:
        detail = ", ".join(f"{k}={v!r} (saved: {saved.hparams.get(k)!r})" for k, v in sorted(conflicts.items()))
        raise RunDirError(
            f"--hparams conflicts with the run saved in {output_dir}/{RUN_FILE}: {detail}. Checkpoints there were "
            f"trained with the saved values; use a new --output_dir to change them.")
    return saved


def settle_seed(spec, output_dir, seed, given):
    """The seed to train with: the one the run recorded (so a resumed run draws the data order and dropout it would
    have drawn), `seed` for a run that has none yet; a different seed given explicitly is refused."""
    if spec.random_seed is None:
        spec.random_seed = seed
    elif given and seed != spec.random_seed:
        raise RunDirError(f"--random_seed={seed} conflicts with the run in {output_dir}, trained with random_seed "
                          f"{spec.random_seed} ({RUN_FILE}): drop the flag to resume it, or use a new --output_dir.")
    return spec.random_seed


def _has_checkpoints(output_dir):
    return bool(glob.glob(os.path.join(glob.escape(output_dir), "ckpt-*.index")))


def check_same_data(spec, problem, output_dir):
    """A run resumed on data of another shape or class count (e.g. a class folder added) cannot reuse its
    checkpoints: say so, naming what changed, instead of failing to restore them. Records the data's info in the
    spec (saved to hparams.json) on a run's first start."""
    info = json.loads(json.dumps(problem.info))  # as it reads back from hparams.json
    if spec.problem_info is None:
        spec.problem_info = info
        return
    changed = {k: (spec.problem_info.get(k), v) for k, v in info.items() if spec.problem_info.get(k) != v}
    if changed:
        detail = ", ".join(f"{k} {was} when the run started, {now} now" for k, (was, now) in sorted(changed.items()))
        raise TrainingError(f"the data in --data_dir does not match the run in {output_dir}: {detail}. Its checkpoints "
                            "fit the old data: restore that data (e.g. the class folders) or start a new --output_dir.")
