"""A preset's model card (`README.md`): what the model is, what it was trained on and how, what it measures on
held-out images with its 95% interval, how to use it. Written from the run and from what its trainer tells
(`card`: the command, the data, its licence, the wall-clock and the machine), never from guesses."""
import inspect

from imgtf import registry


def paper_target(hparams_set):
    """The registered set's docstring (what it targets), or '' for a set not registered here."""
    if hparams_set not in registry.hparams_sets.names():
        return ""
    return inspect.cleandoc(registry.hparams_sets.get(hparams_set).__doc__ or "")


WEIGHTS_TEXT = {"polyak_average": "Polyak-averaged weights", "raw": "the trained weights, not averaged"}


def evaluation_line(evaluation):
    if not evaluation:
        return "Not evaluated: the run has no evaluation of the whole held-out split at this step."
    low, high = evaluation.get("nats_per_image_ci95_low"), evaluation.get("nats_per_image_ci95_high")
    spread = (f" (standard error {evaluation['nats_per_image_se']:.2f}; 95% interval {low:.2f} to {high:.2f})"
              if low is not None and high is not None else "")
    return (f"**{evaluation['nats_per_image']:.2f} nats per image**{spread}, {evaluation['bits_per_dim']:.4f} "
            f"bits/dim, on {evaluation['num_images']:,} held-out images (split `{evaluation['split']}`), with the "
            f"{WEIGHTS_TEXT.get(evaluation['weights'], evaluation['weights'])}.")


def render(name, index, spec, params, card):
    """The model card's Markdown. `index`: the preset's index details; `spec`: the run's RunSpec; `params`: the
    parameter count; `card`: dict of what the trainer tells (command, data, licence, train_minutes, machine)."""
    options = f" with `--problem_options={spec.problem_options}`" if spec.problem_options else ""
    lines = [f"# {name}", "",
             f"A trained `{spec.model}` (hparams set `{spec.hparams_set}`{', overrides `' + spec.overrides + '`' if spec.overrides else ''}; "
             f"{params:,} parameters) for problem `{spec.problem}`{options}: an imgtf preset.", "",
             "```python", "import imgtf", f'preset = imgtf.load_preset("{card.get("load_as", name)}")',
             "images = preset.model.sample(16)  # or: imgtf-decoder --preset=NAME --num_samples=16 --decode_dir=out",
             "```", "", "## Result", "", evaluation_line(index.get("evaluation")), ""]
    if card.get("published"):
        lines += [f"Published for comparison: {card['published']}", ""]
    target = paper_target(spec.hparams_set)
    if target:
        lines += ["What the set targets (its docstring):", "", *["> " + line for line in target.splitlines()], ""]
    lines += ["## Training", "",
              f"- Steps: {index['step']:,} (batch {spec.hparams.get('batch_size', '?')}); the preset holds the "
              f"{WEIGHTS_TEXT.get(index['weights'], index['weights'])}.",
              f"- Training time: {card['train_minutes']:.1f} minutes." if card.get("train_minutes") else
              "- Training time: not recorded.",
              f"- Machine: {card.get('machine', 'not recorded')}.",
              f"- Command: `{card['command']}`" if card.get("command") else "- Command: not recorded.", "",
              "## Data", "", card.get("data", "Not described by its trainer."), "",
              f"Licence of the data: {card.get('licence', 'not stated by its trainer')}.", ""]
    if index.get("files", {}).get("samples.png") or card.get("samples"):
        lines += ["## Samples", "", "![samples](samples.png)", "",
                  f"{card.get('samples', 'Samples')} (cached sampler, temperature 1.0).", ""]
    lines += ["## Files", "",
              "`preset.json` (format version, sizes and SHA-256 of every file), `hparams.json` (the run's settings), "
              "`model.weights.h5` (Keras weights). A preset carries no code: loading it imports nothing from it.", ""]
    return "\n".join(lines)
