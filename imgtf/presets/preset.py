"""Trained models by name: `load_preset` (a built-in name, a directory, or an hf:// / kaggle:// handle),
`save_preset` (a run's weights as a preset) and `upload_preset` (publish one).

A preset is loaded as a run is (the model built from its hparams.json, then its weights), but from files checked
first (imgtf.presets.preset_files) and without ever importing code: a preset that names a problem, model or set
nothing here registers is refused with the name, for the user to import its code themselves."""
import dataclasses
import datetime
import json
import os
import platform

import numpy as np

from imgtf import artifacts, catalog, units
from imgtf.hparams.hparams import HParams
from imgtf.presets import hub, model_card
from imgtf.presets.preset_files import CARD, HPARAMS, SAMPLES, WEIGHTS, PresetError, read_index, write_index

BUILTIN_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "builtin")
WRITER = "imgtf.save_preset"


def builtin_names():
    """The presets shipped with the package (package data under imgtf/presets/builtin)."""
    if not os.path.isdir(BUILTIN_DIR):
        return []
    return sorted(n for n in os.listdir(BUILTIN_DIR) if os.path.isfile(os.path.join(BUILTIN_DIR, n, "preset.json")))


@dataclasses.dataclass
class Preset:
    """A loaded preset: `model` (a built keras.Model with the preset's weights), `problem` (the registered problem,
    configured as the preset was trained), `problem_info` (the shapes and levels the model was built for), `hparams`,
    `spec` (its hparams.json), `index` (its preset.json: step, weights, evaluation) and `path` (the local directory)."""

    name: str
    path: str
    model: object
    problem: object
    problem_info: dict
    hparams: HParams
    spec: object
    index: dict
    given: str = ""  # as the caller named it (a built-in name, a directory, a handle)

    @property
    def card(self):
        """The model card's text."""
        with open(os.path.join(self.path, CARD)) as f:
            return f.read()


def locate(preset):
    """(local directory, how messages name it) for a built-in name, a directory or a hub handle."""
    if not isinstance(preset, (str, os.PathLike)) or not os.fspath(preset):
        raise PresetError(f"a preset is a built-in name, a directory or a hub handle; got {preset!r}.")
    preset = os.fspath(preset)
    if hub.is_handle(preset):
        return hub.download(preset), preset
    builtin = preset in builtin_names()
    if os.path.isdir(preset) and (not builtin or os.path.lexists(os.path.join(preset, "preset.json"))):
        return preset, preset  # a folder of the same name as a built-in preset that is no preset: the built-in
    if builtin:
        return os.path.join(BUILTIN_DIR, preset), f"built-in preset {preset!r}"
    names = ", ".join(builtin_names()) or "none"
    raise PresetError(f"no preset {preset!r}: not a built-in preset (built in: {names}), not a directory, and not a "
                      "handle (hf://OWNER/NAME or kaggle://OWNER/MODEL/FRAMEWORK/VARIATION).")


def load_preset(preset, data_dir=None):
    """The preset `preset` (a built-in name such as "pixelcnn_binarized_mnist", a directory written by save_preset, or
    an hf:// / kaggle:// handle, downloaded through the hub's client) as a Preset whose `model` is ready to sample and
    score. `data_dir` binds its problem to data (for completion, evaluation or fine-tuning). Refused with a message:
    another format version, a missing, truncated or changed file, a file name leading out of the preset, weights that
    do not fit its hparams, names nothing here registers."""
    from imgtf.models.factory import make_model
    from imgtf.train import run_dir

    directory, where = locate(preset)
    index = read_index(directory, where)
    refuse_code(directory, where)  # before run_dir.load, which would import a usr_dir this user once trusted
    catalog.load_builtins()
    try:
        spec = run_dir.load(directory)
    except (run_dir.RunDirError, ValueError) as e:
        raise PresetError(f"{where}: its {HPARAMS} cannot be used ({e}).") from None
    missing = run_dir.unregistered_names(spec)
    if missing:
        raise PresetError(f"{where} needs {', '.join(missing)}, which nothing here registers. A preset carries no "
                          "code: import the module that registers them yourself (--usr_dir=DIR on the commands, "
                          "imgtf.registry.import_usr_dir(DIR) in Python), then load it again.")
    if not isinstance(spec.problem_info, dict):
        raise PresetError(f"{where}: its {HPARAMS} records no problem_info (the shapes the model was built for); "
                          "get a preset written by imgtf.save_preset.")
    model = make_model(spec.model, spec.hparams, spec.problem_info, spec.hparams_set)
    load_weights(model, os.path.join(directory, WEIGHTS), where)
    problem = spec.make_problem(data_dir)
    name = index.get("name") or os.path.basename(os.path.normpath(directory))
    return Preset(name, directory, model, problem, spec.problem_info, spec.hparams, spec, index, where_given(preset))


def refuse_code(directory, where):
    """A preset's hparams.json that names a usr_dir (code to import) is refused before anything reads it as a run's."""
    try:
        with open(os.path.join(directory, HPARAMS)) as f:
            saved = json.load(f)
    except (OSError, ValueError) as e:
        raise PresetError(f"{where}: its {HPARAMS} is unreadable ({type(e).__name__}: {e}); get the preset "
                          "again.") from None
    if not isinstance(saved, dict) or saved.get("usr_dir") or saved.get("usr_dir_path"):
        raise PresetError(f"{where}: its {HPARAMS} names code to import (usr_dir "
                          f"{saved.get('usr_dir') if isinstance(saved, dict) else None!r}); a preset carries no code. "
                          "Refusing it: get a preset written by imgtf.save_preset.")


def where_given(preset):
    """How a run records the preset it started from: a handle or built-in name as given, a directory absolute."""
    preset = os.fspath(preset)
    return os.path.abspath(preset) if not hub.is_handle(preset) and os.path.isdir(preset) else preset


def load_weights(model, path, where):
    """The preset's weights into the model its hparams built; a mismatch names the preset, not a Keras internal."""
    try:
        model.load_weights(path)
    except (ValueError, KeyError, OSError, TypeError) as e:
        raise PresetError(f"{where}: its weights do not fit the model its {HPARAMS} describes ({type(e).__name__}: "
                          f"{str(e)[:300]}). The files come from different models; get the preset again.") from None


def initialize_from(model, preset):
    """Copy a loaded Preset's weights into `model`, a new run's model built from hparams that must give the same
    weights (the same family and sizes); returns what the run records of it (its `init_from`). The copy includes
    the weight-normalised layers' record that they are initialised, so the new run does not initialise them again."""
    theirs, ours = preset.model.weights, model.weights
    shapes = [tuple(w.shape) for w in theirs], [tuple(w.shape) for w in ours]
    if shapes[0] != shapes[1]:
        first = next((i for i, (a, b) in enumerate(zip(*shapes)) if a != b), min(map(len, shapes)))
        detail = (f"{len(theirs)} weights against this model's {len(ours)}" if len(theirs) != len(ours) else
                  f"weight {first} ({ours[first].path}) is {shapes[1][first]} here and {shapes[0][first]} in it")
        raise PresetError(f"preset {preset.name} does not fit this run's model ({detail}): its weights are of "
                          f"{preset.spec.model} with hparams set {preset.spec.hparams_set}"
                          f"{' and ' + preset.spec.overrides if preset.spec.overrides else ''}. Start from a preset of "
                          "the same model and sizes, or drop the --hparams that change them.")
    for variable, value in zip(ours, theirs):
        variable.assign(value)
    return {"preset": preset.given, "name": preset.name, "step": preset.index.get("step"),
            "weights_sha256": preset.index["files"][WEIGHTS]["sha256"]}


def save_preset(run_dir_path, preset_dir, *, checkpoint=None, name=None, averaged=True, num_samples=16, seed=0,
                card=None):
    """Write the run in `run_dir_path` (its newest readable checkpoint, or `checkpoint`) as a preset in `preset_dir`:
    its hparams.json (without usr_dir: a preset carries no code), the weights (Polyak averages where the run kept
    them, unless `averaged` is False), a grid of `num_samples` samples (0: none), the model card and preset.json.
    The card's figure is the run's evaluation of its whole evaluation split at that step (metrics.jsonl); `card`
    adds what only the trainer knows: command, data, licence, train_minutes, machine, published, samples. The
    directory is written whole or not at all, and replaces only an earlier preset. Returns the index written."""
    from imgtf.api import load_run
    from imgtf.data import grids
    from imgtf.train import metrics as run_metrics
    from imgtf.train.run_dir import RunSpec

    card = dict(card or {})
    name = name or os.path.basename(os.path.normpath(preset_dir))
    artifacts.check_replaceable(preset_dir, WRITER, "preset_dir")
    run = load_run(run_dir_path, checkpoint, averaged=averaged)
    spec = run.spec
    step = int(os.path.basename(run.checkpoint).rsplit("-", 1)[-1])
    weights = "polyak_average" if averaged and float(spec.hparams.get("ema_decay", 0.0)) > 0 else "raw"
    evaluation = newest_evaluation(run_metrics.read_metrics(run_dir_path), step, run.problem.eval_split, weights)
    details = {"name": name, "problem": spec.problem, "problem_options": spec.problem_options, "model": spec.model,
               "hparams_set": spec.hparams_set, "step": step, "weights": weights, "evaluation": evaluation,
               "params": int(run.model.count_params()), "saved": datetime.datetime.now(datetime.timezone.utc)
               .strftime("%Y-%m-%d %H:%M UTC")}
    card.setdefault("machine", f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs")
    with artifacts.staged(preset_dir, WRITER) as staging:  # no local paths: a preset is given to others
        clean = RunSpec(spec.problem, spec.model, spec.hparams_set, spec.hparams, spec.overrides,
                        spec.problem_options, spec.problem_info or run.problem.info, random_seed=spec.random_seed)
        with open(os.path.join(staging, HPARAMS), "w") as f:
            f.write(clean.to_json())
        run.model.save_weights(os.path.join(staging, WEIGHTS))
        if num_samples:
            images = np.asarray(run.model.sample(num_samples, 1.0, seed))
            columns = max(int(num_samples ** 0.5), 1)
            grids.save_png(grids.sample_grid(images, columns=columns, num_levels=run.problem.num_levels),
                           os.path.join(staging, SAMPLES))
            card.setdefault("samples", f"{num_samples} samples, seed {seed}")
        with open(os.path.join(staging, CARD), "w") as f:
            f.write(model_card.render(name, {**details, "files": {SAMPLES: True} if num_samples else {}}, clean,
                                      details["params"], card))
        index = write_index(staging, details)
    return index


def newest_evaluation(records, step, split, weights):
    """The newest metrics.jsonl record of a whole-split evaluation of `split` at `step` with these weights, reduced
    to what a card shows; None if there is none."""
    keep = ("split", "num_images", "weights", "bits_per_dim", "bits_per_dim_se", "bits_per_dim_ci95_low",
            "bits_per_dim_ci95_high", "nats_per_image", "nats_per_image_se", "nats_per_image_ci95_low",
            "nats_per_image_ci95_high")
    for record in reversed(records):
        if (record.get("step") == step and record.get("split") == split and record.get("whole_split")
                and record.get("weights", "raw") == weights and record.get("bits_per_dim") is not None):
            return {k: record.get(k) for k in keep}
    return None


def upload_preset(preset_dir, handle, message=None):
    """Publish the preset in `preset_dir` to `handle` (hf://OWNER/NAME or kaggle://OWNER/MODEL/FRAMEWORK/VARIATION)
    through the hub's client, after checking it as a download would be checked. Returns the handle."""
    index = read_index(preset_dir, preset_dir)
    hub.parse(handle)
    summary = f"{index.get('name')}: {index.get('hparams_set')} at step {index.get('step')}"
    evaluation = index.get("evaluation")
    if evaluation:
        summary += f", {units.record_text({**evaluation, 'reported': 'nats_per_image'})}"
    hub.upload(preset_dir, handle, message or f"imgtf preset {summary}")
    return handle


__all__ = ["Preset", "PresetError", "builtin_names", "load_preset", "save_preset", "upload_preset"]
