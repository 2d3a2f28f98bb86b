"""How long resuming takes at a small and a large step: the training order read by index against reading through.

    python bench/resume.py                                  # steps 10 and 100,000 at batch 64
    python bench/resume.py --steps=10,1000,100000 --batch_size=64

The real CIFAR-10 subset is prepared once with imgtf-datagen's writer (into a temporary folder). For each step s it
times, in this process, the first batch of the training pipeline started at s:
  indexed   the prepared arrays read in imgtf.data.order (what training does now): position s x batch at once;
  streamed  the same arrays read in order with a shuffle buffer and ds.skip(s x batch), which is what every resume
            did before, and what a source that can only be streamed (an archive, tfds) still does.
It then times a whole resume through the Trainer (restore a checkpoint saved at step s, rebuild the pipeline, run
one step) for the tiny Image Transformer, indexed only. A first, untimed pass at the small step warms TensorFlow up.
The reference for each figure is the same measurement at the small step: resuming in O(1) means a ratio
(large / small) near 1.
"""
import argparse
import tempfile
import time

from common import CIFAR10_SAMPLE, run_with_results


def first_batch_seconds(make_dataset):
    start = time.time()
    next(iter(make_dataset()))
    return time.time() - start


def streamed(problem, data_dir, batch_size, skip_batches):
    """The pre-index pipeline: in order, shuffled in a buffer, repeated, then skip_batches x batch_size skipped."""
    from imgtf.data import prepared

    meta = problem.prepared("train", data_dir)
    ds = problem._streamed_order(prepared.indexed(meta).dataset(), "train", data_dir, batch_size, True, True, 0, skip_batches, 0, 1)
    return ds.batch(batch_size, drop_remainder=True)


def trainer_resume_seconds(problem, data_dir, step, batch_size):
    """Restore a checkpoint saved at `step`, rebuild the pipeline there and run one step (the first call's tracing is
    the same at every step)."""
    from imgtf.train import run_dir
    from imgtf.train.trainer import Trainer

    with tempfile.TemporaryDirectory() as out:
        spec = run_dir.resolve(out, problem.name, "image_transformer", "imagetransformer_cifar10_tiny",
                               f"batch_size={batch_size}")
        trainer = Trainer(spec, out, data_dir)
        trainer.step.assign(step)
        trainer.save()
        resumed = Trainer(spec, out, data_dir)
        start = time.time()
        resumed.train(step + 1, checkpoint_every=10**9, log_every=10**9)
        return time.time() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default="10,100000")
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--data_dir", default=CIFAR10_SAMPLE, help="CIFAR-10 python batches (default: the "
                        "sample in examples/data; ../shared/data/cifar10 holds 5,085 training images)")
    args = parser.parse_args()
    import logging

    from imgtf import catalog, registry
    from imgtf.data import prepared

    logging.getLogger("imgtf").setLevel(logging.ERROR)
    catalog.load_builtins()
    problem = registry.problem("image_cifar10")
    steps = [int(s) for s in args.steps.split(",")]
    with tempfile.TemporaryDirectory() as ready:
        meta = prepared.write(problem, "train", args.data_dir, ready)
        print(f"Resuming on prepared real CIFAR-10 ({meta['count']} train images), batch {args.batch_size}, 2 CPUs")
        print("| step | examples before it | indexed: first batch | streamed: first batch | streamed / indexed "
              "| Trainer resume (indexed) |")
        print("|---:|---:|---:|---:|---:|---:|")
        rows = []
        for i, step in enumerate([steps[0]] + steps):  # pass 0 warms TensorFlow up (first dataset, first trace)
            index_s = first_batch_seconds(lambda: problem.dataset(
                "train", ready, args.batch_size, shuffle=True, repeat=True, seed=0, skip_batches=step,
                drop_remainder=True))
            stream_s = first_batch_seconds(lambda: streamed(problem, ready, args.batch_size, step))
            trainer_s = trainer_resume_seconds(problem, ready, step, args.batch_size)
            if i == 0:
                continue
            rows.append((index_s, stream_s, trainer_s))
            print(f"| {step:,} | {step * args.batch_size:,} | {index_s:.3f} s | {stream_s:.2f} s | "
                  f"{stream_s / index_s:.0f}x | {trainer_s:.2f} s |", flush=True)
        (i0, s0, t0), (i1, s1, t1) = rows[0], rows[-1]
        print(f"step {steps[-1]:,} against step {steps[0]:,}: indexed first batch {i1 / i0:.2f}x, "
              f"streamed {s1 / s0:.0f}x, Trainer resume {t1 / t0:.2f}x")


if __name__ == "__main__":
    run_with_results("resume", main)
