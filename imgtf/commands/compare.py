"""imgtf-compare: are two models' bits/dim really different? The paired difference on the same images, with its
95% interval (paired t over images), how often each wins, and a verdict.

  imgtf-compare --a=RUN_avg --b=RUN                       # their newest recorded evaluations of --split
  imgtf-compare --a=RUN/ckpt-300 --b=RUN/ckpt-200 --data_dir=DATA   # evaluate both checkpoints now
  imgtf-compare --a=RUN --b=RUN --a_weights=polyak_average --b_weights=raw --data_dir=DATA
  imgtf-compare --a=RUN/evaluations/test-step300-raw.npz --b=OTHER_RUN
"""
import json

from absl import flags

from imgtf.commands import common


def define_flags(fv):
    flags.DEFINE_string("a", None, "Model A: a run directory, one of its checkpoints (RUN/ckpt-N) or a per-image "
                        "evaluation file (RUN/evaluations/*.npz).", flag_values=fv)
    flags.DEFINE_string("b", None, "Model B, as --a.", flag_values=fv)
    flags.DEFINE_string("split", None, "The split both were (or are to be) evaluated on (default: a run's newest "
                        "evaluation; when evaluating, the problem's evaluation split).", flag_values=fv)
    flags.DEFINE_string("data_dir", None, "Evaluate run directories and checkpoints now, on this data (otherwise "
                        "their recorded evaluations are compared).", flag_values=fv)
    flags.DEFINE_integer("eval_steps", 0, "When evaluating: this many batches (0 = the whole split).", flag_values=fv)
    for side in ("a", "b"):
        flags.DEFINE_enum(f"{side}_weights", None, ["polyak_average", "raw"], f"Model {side.upper()}'s weights: a "
                          "run trained with ema_decay is evaluated with its Polyak averages unless raw.",
                          flag_values=fv)
    flags.DEFINE_string("json", None, "Also write the comparison to this JSON file.", flag_values=fv)
    common.define_registry_flags(fv)


def run(args):
    if not common.load_registry(args):
        return 0
    common.require_flags(args, "a", "b")
    from imgtf.evaluation.comparison import compare

    result = compare(args.a, args.b, split=args.split, data_dir=args.data_dir, eval_steps=args.eval_steps,
                     weights_a=args.a_weights, weights_b=args.b_weights)
    print(result.text())
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result.to_dict(), f, indent=2)
    return 0


def main(argv=None):
    """Run imgtf-compare with `argv` (the arguments after the program name); returns its exit status."""
    return common.main("imgtf-compare", __doc__, define_flags, run, argv)


def run_main():
    common.console_entry(main)


if __name__ == "__main__":
    run_main()
