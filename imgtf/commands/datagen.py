"""imgtf-datagen: prepare a problem once (decode, crop, resize) into fixed-size arrays that training reads fast, by
index (a resumed run starts at its step at once, whatever the source's format).

  imgtf-datagen --problem=img2img_celeba --tmp_dir=RAW --data_dir=PREPARED
  imgtf-trainer --problem=img2img_celeba --data_dir=PREPARED ...   # reads the prepared arrays
"""
import time

from absl import flags

from imgtf.commands import common


def define_flags(fv):
    flags.DEFINE_string("problem", None, "Registered problem name.", flag_values=fv)
    flags.DEFINE_string("problem_options", "", "Settings of configurable problems (e.g. image_folder).",
                        flag_values=fv)
    flags.DEFINE_string("tmp_dir", None, "Where the raw, official files are (what --data_dir would be without "
                        "datagen).", flag_values=fv)
    flags.DEFINE_string("data_dir", None, "Where to write the prepared arrays "
                        "(DATA_DIR/<problem>/<split>.<feature>.bin).", flag_values=fv)
    flags.DEFINE_list("splits", [], "Splits to prepare (default: all of the problem's splits).", flag_values=fv)
    common.define_registry_flags(fv)


def run(args):
    if not common.load_registry(args):
        return 0
    common.require_flags(args, "problem", "tmp_dir", "data_dir")
    from imgtf import registry
    from imgtf.data import prepared
    from imgtf.data.errors import reraise_from_pipeline

    problem = registry.problem(args.problem)
    problem.configure(args.problem_options)
    problem.bind(args.tmp_dir)
    for split in args.splits or problem.splits:
        start = time.time()
        print(f"{problem.name} {split}: preparing from {args.tmp_dir} ...", flush=True)
        with reraise_from_pipeline():
            meta = prepared.write(problem, split, args.tmp_dir, args.data_dir)
        print(f"{problem.name} {split}: {meta['count']} examples -> {args.data_dir}/{problem.name}/ "
              f"({meta['count'] / max(time.time() - start, 1e-9):.0f} examples/s)")
    return 0


def main(argv=None):
    """Run imgtf-datagen with `argv` (the arguments after the program name); returns its exit status."""
    return common.main("imgtf-datagen", __doc__, define_flags, run, argv)


def run_main():
    common.console_entry(main)


if __name__ == "__main__":
    run_main()
