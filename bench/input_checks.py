"""What the input contract's checks cost a training step: steps/s with the checks and without, same set, same process.

    python bench/input_checks.py                       # tiny PixelCNN and Image Transformer, Trainer and Keras fit
    python bench/input_checks.py --sets=pixelcnn_cifar10_tiny --steps=64 --rounds=10

The checks (imgtf.models.inputs) are the dtype and shape checks made once when a pipeline is built, and per batch a
min/max assertion of the values inside the tf.data pipeline, outside the compiled step. One model per set and loop,
trained on real CIFAR-10 (the shipped sample by default) after --warmup untimed steps (tracing), then timed blocks
of --steps, alternating: with the checks (the Trainer as shipped; imgtf's `fit`) and without (the Trainer with
`InputContract.checked_dataset` returning the unchecked dataset; Keras's own `fit` on the same model and data). The
same compiled step runs in both arms. Reported: the median steps/s of each arm, their ratio (1.00 = no cost) and the
range of the blocks (how much the machine varied); then the input pipeline alone with and without the checks, whose
difference per batch, set against a step's time, is the checks' cost where block timings are too noisy to show it.
"""
import argparse
import contextlib
import functools
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import EXAMPLES_DATA, REPO, cifar_model_and_problem, run_with_results  # noqa: E402


@contextlib.contextmanager
def checks(enabled):
    """The contract's dataset checks on (as shipped) or off (the unchecked dataset), for the trainer's pipelines."""
    from imgtf.models.inputs import InputContract

    original = InputContract.checked_dataset
    if not enabled:
        InputContract.checked_dataset = lambda self, dataset, where="": dataset
    try:
        yield
    finally:
        InputContract.checked_dataset = original


def trainer_rates(set_name, warmup, steps, rounds, data_dir):
    """One Trainer (one compiled step, reused by every call), timed blocks of `steps` alternating the arms."""
    from imgtf.train import run_dir
    from imgtf.train.trainer import Trainer

    model, problem = cifar_model_and_problem(set_name)
    rates = {True: [], False: []}
    with tempfile.TemporaryDirectory() as out:
        trainer = Trainer(run_dir.resolve(out, problem, model, set_name, ""), out, data_dir, seed=0)
        never = 10**9
        done = trainer.train(warmup, checkpoint_every=never, log_every=never)
        for i in range(rounds):
            for enabled in ((True, False) if i % 2 == 0 else (False, True)):
                with checks(enabled):
                    start = time.time()
                    done = trainer.train(done + steps, checkpoint_every=never, log_every=never)
                    rates[enabled].append(steps / (time.time() - start))
    return rates


def fit_rates(set_name, warmup, steps, rounds, data_dir):
    """One compiled model; `model.fit` (the contract's checks) alternating with Keras's own fit on the same data."""
    import keras

    import imgtf

    model_name, problem_name = cifar_model_and_problem(set_name)
    keras.utils.set_random_seed(0)
    model = imgtf.build_model(set_name, problem_name, model=model_name)
    model.compile(optimizer="adam")
    problem = imgtf.registry.problem(problem_name)
    data = problem.dataset("train", data_dir, imgtf.registry.hparams(set_name).batch_size, shuffle=True, repeat=True)
    model.fit(data, epochs=1, steps_per_epoch=warmup, verbose=0)
    rates = {True: [], False: []}
    for i in range(rounds):
        for enabled in ((True, False) if i % 2 == 0 else (False, True)):
            fit = model.fit if enabled else functools.partial(keras.Model.fit, model)
            start = time.time()
            fit(data, epochs=1, steps_per_epoch=steps, verbose=0)
            rates[enabled].append(steps / (time.time() - start))
    return rates


def pipeline_cost(set_name, batches, rounds, data_dir):
    """Microseconds per batch of the training pipeline alone, with and without the checks (no model step): what the
    checks add to the input side, to be set against a step's time."""
    import imgtf

    model_name, problem_name = cifar_model_and_problem(set_name)
    model = imgtf.build_model(set_name, problem_name, model=model_name)
    problem = imgtf.registry.problem(problem_name)
    plain = problem.dataset("train", data_dir, imgtf.registry.hparams(set_name).batch_size, shuffle=True, repeat=True)
    iterators = {False: iter(plain), True: iter(model.input_contract.checked_dataset(plain))}
    for iterator in iterators.values():
        for _ in range(batches):
            next(iterator)
    cost = {True: [], False: []}
    for i in range(rounds):
        for enabled in ((True, False) if i % 2 == 0 else (False, True)):
            start = time.time()
            for _ in range(batches):
                next(iterators[enabled])
            cost[enabled].append((time.time() - start) / batches * 1e6)
    return {k: float(np.median(v)) for k, v in cost.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="pixelcnn_cifar10_tiny,imagetransformer_cifar10_tiny")
    parser.add_argument("--steps", type=int, default=64)
    parser.add_argument("--warmup", type=int, default=8)
    parser.add_argument("--batches", type=int, default=200, help="batches per block of the pipeline-only measure")
    parser.add_argument("--rounds", type=int, default=6, help="timed blocks of each arm, alternating; medians reported")
    parser.add_argument("--data_dir", default=os.path.join(EXAMPLES_DATA, "cifar10"),
                        help="CIFAR-10 files (default: the sample shipped in examples/data)")
    args = parser.parse_args()
    sys.path.insert(0, REPO)
    import logging

    import imgtf  # noqa: F401

    logging.getLogger("imgtf").setLevel(logging.ERROR)
    print(f"steps/s of blocks of {args.steps} steps after {args.warmup} untimed ones, median of {args.rounds} blocks "
          f"per arm, the arms alternating on one compiled model, {os.cpu_count()} CPUs; batch: each set's batch_size")
    print("| hparams set | loop | with checks | without | with / without | range of blocks (with / without) |")
    print("|---|---|---:|---:|---:|---|")
    steps_per_s = {}
    for set_name in args.sets.split(","):
        for loop, measure in (("imgtf Trainer", trainer_rates), ("Keras fit", fit_rates)):
            rates = measure(set_name, args.warmup, args.steps, args.rounds, args.data_dir)
            on, off = (float(np.median(rates[k])) for k in (True, False))
            spread = " / ".join(f"{min(rates[k]):.2f}-{max(rates[k]):.2f}" for k in (True, False))
            steps_per_s.setdefault(set_name, off)
            print(f"| `{set_name}` | {loop} | {on:.2f} | {off:.2f} | {on / off:.3f} | {spread} |", flush=True)
    print(f"\nThe input pipeline alone (no model step), microseconds per batch, median of {args.rounds} blocks of "
          f"{args.batches} batches per arm; the difference against the Trainer's step time without checks:")
    print("| hparams set | with checks | without | difference | of a step |")
    print("|---|---:|---:|---:|---:|")
    for set_name in args.sets.split(","):
        cost = pipeline_cost(set_name, args.batches, args.rounds, args.data_dir)
        added = cost[True] - cost[False]
        print(f"| `{set_name}` | {cost[True]:.0f} | {cost[False]:.0f} | {added:+.0f} | "
              f"{added * 1e-6 * steps_per_s[set_name]:+.3%} |", flush=True)


if __name__ == "__main__":
    run_with_results("input_checks", main)
