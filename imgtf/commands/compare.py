"""imgtf-compare: are two models' bits/dim really different? The paired difference on the same images, with its
95% interval (paired t over images), how often each wins, and a verdict.

  imgtf-compare --a=RUN_avg --b=RUN                       # their newest recorded evaluations of --split
  imgtf-compare --a=RUN/ckpt-300 --b=RUN/ckpt-200 --data_dir=DATA   # evaluate both checkpoints now
  imgtf-compare --a=RUN --b=RUN --a_weights=polyak_average --b_weights=raw --data_dir=DATA
  imgtf-compare --a=RUN/evaluations/test-step300-raw.npz --b=OTHER_RUN
"""
import json
import os

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
    flags.DEFINE_integer("eval_steps", 0, "When evaluating: this many batches (0 = the whole split).", lower_bound=0,
                         flag_values=fv)
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

    if args.json:  # checked before evaluating: the comparison must not be lost to a path that cannot be written
        folder = os.path.dirname(os.path.abspath(args.json))
        if not os.path.isdir(folder) or os.path.isdir(args.json):
            what = "is a directory" if os.path.isdir(args.json) else f"there is no folder {folder}"
            raise common.UsageError(f"--json={args.json}: {what}; name a file in an existing folder.")

    result = compare(args.a, args.b, split=args.split, data_dir=args.data_dir, eval_steps=args.eval_steps,
                     weights_a=args.a_weights, weights_b=args.b_weights)
    print(result.text())
    if args.json:
        try:
            with open(args.json, "w") as f:
                json.dump(result.to_dict(), f, indent=2)
        except OSError as e:
            raise common.UsageError(f"--json={args.json}: cannot write it ({e.strerror or e}); the comparison is "
                                    "printed above.") from None
    return 0


def main(argv=None):
    """Run imgtf-compare with `argv` (the arguments after the program name); returns its exit status."""
    return common.main("imgtf-compare", __doc__, define_flags, run, argv)


def run_main():
    common.console_entry(main)


if __name__ == "__main__":
    run_main()
