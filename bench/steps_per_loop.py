"""Steps per second with --steps_per_loop=1 against larger values, the same set in the same process.

    python bench/steps_per_loop.py                                   # tiny sets, N = 1, 8, 32, 64 timed steps
    python bench/steps_per_loop.py --sets=pixelcnn_cifar10_tiny --values=1,16 --steps=128
    python bench/steps_per_loop.py --sets=pixelcnn_cifar10_tiny --repeats=5   # what docs/benchmarks.md shows

Each value trains the set from the same seed on real CIFAR-10 (the shipped sample by default) through the Trainer (a fresh Trainer per
value, in one process so that each measures the same machine state); the first call of each (tracing) is not
timed: every run first trains `max(values)` steps, then the timed --steps. Printed: steps/s per value and its ratio
to N = 1. On a CPU a step of even the tiny sets lasts tens of milliseconds, so the host round trip that N removes is
a small part of it; the flag is for accelerators, where it is not.
"""
import argparse
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import EXAMPLES_DATA, REPO, cifar_model_and_problem, run_with_results  # noqa: E402


def steps_per_second(set_name, per_loop, warmup, steps, data_dir):
    from imgtf.train import run_dir
    from imgtf.train.trainer import Trainer

    model, problem = cifar_model_and_problem(set_name)
    with tempfile.TemporaryDirectory() as out:
        trainer = Trainer(run_dir.resolve(out, problem, model, set_name, ""), out, data_dir, seed=0)
        never = 10**9
        trainer.train(warmup, checkpoint_every=never, log_every=never, steps_per_loop=per_loop)
        start = time.time()
        trainer.train(warmup + steps, checkpoint_every=never, log_every=never, steps_per_loop=per_loop)
        return steps / (time.time() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="pixelcnn_cifar10_tiny,imagetransformer_cifar10_tiny")
    parser.add_argument("--values", default="1,8,32")
    parser.add_argument("--steps", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3,
                        help="rounds over all values, interleaved; the median rate of each value is reported")
    parser.add_argument("--data_dir", default=os.path.join(EXAMPLES_DATA, "cifar10"),
                        help="CIFAR-10 files (default: the sample shipped in examples/data)")
    args = parser.parse_args()
    sys.path.insert(0, REPO)
    import logging

    import imgtf  # noqa: F401

    logging.getLogger("imgtf").setLevel(logging.ERROR)
    values = [int(v) for v in args.values.split(",")]
    print(f"steps/s over {args.steps} steps after {max(values)} untimed ones, median of {args.repeats} interleaved "
          f"rounds (one run of each value per round), {os.cpu_count()} CPUs")
    print("| hparams set | " + " | ".join(f"N={v}" for v in values) + " | " +
          " | ".join(f"N={v} / N={values[0]}" for v in values[1:]) + " |")
    print("|---|" + "---:|" * (2 * len(values) - 1))
    for set_name in args.sets.split(","):
        rounds = [[steps_per_second(set_name, v, max(values), args.steps, args.data_dir) for v in values]
                  for _ in range(args.repeats)]
        rates = [float(np.median([r[i] for r in rounds])) for i in range(len(values))]
        print(f"| `{set_name}` | " + " | ".join(f"{r:.2f}" for r in rates) + " | " +
              " | ".join(f"{r / rates[0]:.2f}" for r in rates[1:]) + " |", flush=True)


if __name__ == "__main__":
    run_with_results("steps_per_loop", main)
