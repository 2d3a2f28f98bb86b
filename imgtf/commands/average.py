"""imgtf-average: average the model weights of a run's last N checkpoints into a new run directory.

  imgtf-average --output_dir=RUN --to_dir=RUN_avg --num_last=5
  imgtf-trainer --output_dir=RUN_avg --data_dir=DATA --schedule=eval
"""
from absl import flags

from imgtf.commands import common


def define_flags(fv):
    flags.DEFINE_string("output_dir", None, "The trained run directory.", flag_values=fv)
    flags.DEFINE_string("to_dir", None, "New run directory for the averaged checkpoint.", flag_values=fv)
    flags.DEFINE_integer("num_last", 5, "How many of the newest checkpoints to average.", lower_bound=1,
                         flag_values=fv)
    common.define_registry_flags(fv)


def run(args):
    if not common.load_registry(args):
        return 0
    common.require_flags(args, "output_dir", "to_dir")
    from imgtf.train.averaging import average_checkpoints

    paths, saved = average_checkpoints(args.output_dir, args.to_dir, args.num_last)
    print(f"averaged {len(paths)} checkpoints ({', '.join(p.rsplit('/', 1)[-1] for p in paths)}) -> {saved}")
    return 0


def main(argv=None):
    """Run imgtf-average with `argv` (the arguments after the program name); returns its exit status."""
    return common.main("imgtf-average", __doc__, define_flags, run, argv)


def run_main():
    common.console_entry(main)


if __name__ == "__main__":
    run_main()
