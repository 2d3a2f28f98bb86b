"""imgtf-datagen: prepare a problem once (decode, crop, resize) into fixed-size arrays that training reads fast, by
index (a resumed run starts at its step at once, whatever the source's format).

  imgtf-datagen --problem=img2img_celeba --tmp_dir=RAW --data_dir=PREPARED
  imgtf-trainer --problem=img2img_celeba --data_dir=PREPARED ...   # reads the prepared arrays
"""
import time

from absl import flags

from imgtf.commands import common

FLAGS = flags.FLAGS
flags.DEFINE_string("problem", None, "Registered problem name.")
flags.DEFINE_string("problem_options", "", "Settings of configurable problems (e.g. image_folder).")
flags.DEFINE_string("tmp_dir", None, "Where the raw, official files are (what --data_dir would be without datagen).")
flags.DEFINE_string("data_dir", None, "Where to write the prepared arrays (DATA_DIR/<problem>/<split>.<feature>.bin).")
flags.DEFINE_list("splits", [], "Splits to prepare (default: all of the problem's splits).")
common.define_registry_flags()


def run():
    if not common.load_registry():
        return
    common.require_flags("problem", "tmp_dir", "data_dir")
    from imgtf import registry
    from imgtf.data import prepared
    from imgtf.data.errors import reraise_from_pipeline

    problem = registry.problem(FLAGS.problem)
    problem.configure(FLAGS.problem_options)
    problem.bind(FLAGS.tmp_dir)
    for split in FLAGS.splits or problem.splits:
        start = time.time()
        print(f"{problem.name} {split}: preparing from {FLAGS.tmp_dir} ...", flush=True)
        with reraise_from_pipeline():
            meta = prepared.write(problem, split, FLAGS.tmp_dir, FLAGS.data_dir)
        print(f"{problem.name} {split}: {meta['count']} examples -> {FLAGS.data_dir}/{problem.name}/ "
              f"({meta['count'] / max(time.time() - start, 1e-9):.0f} examples/s)")


def run_main():
    common.run_command("imgtf-datagen", __name__, __doc__, run)


if __name__ == "__main__":
    run_main()
