"""imgtf-average: average the model weights of a run's last N checkpoints into a new run directory.

  imgtf-average --output_dir=RUN --to_dir=RUN_avg --num_last=5
  imgtf-trainer --output_dir=RUN_avg --data_dir=DATA --schedule=eval
"""
from absl import flags

from imgtf.commands import common

FLAGS = flags.FLAGS
flags.DEFINE_string("output_dir", None, "The trained run directory.")
flags.DEFINE_string("to_dir", None, "New run directory for the averaged checkpoint.")
flags.DEFINE_integer("num_last", 5, "How many of the newest checkpoints to average.")
common.define_registry_flags()


def run():
    if not common.load_registry():
        return
    common.require_flags("output_dir", "to_dir")
    from imgtf.train import run_lock
    from imgtf.train.averaging import average_checkpoints

    run_lock.acquire(FLAGS.to_dir)
    paths, saved = average_checkpoints(FLAGS.output_dir, FLAGS.to_dir, FLAGS.num_last)
    print(f"averaged {len(paths)} checkpoints ({', '.join(p.rsplit('/', 1)[-1] for p in paths)}) -> {saved}")


def run_main():
    common.run_command("imgtf-average", __name__, __doc__, run)


if __name__ == "__main__":
    run_main()
