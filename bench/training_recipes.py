"""The papers' training recipes measured one at a time: weight normalisation with data-dependent initialisation
(hparam weight_norm) and Polyak averaging (hparam ema_decay), bits/dim at equal steps with and without each.

    python bench/training_recipes.py                      # 3 gated-family tiny sets, 600 steps (about 25 minutes)
    python bench/training_recipes.py --sets=pixelcnn_pp_cifar10_tiny --steps=100 --points=50,100 --out=

Per set, two training runs from the same seed on the same batches (the Trainer, as imgtf-trainer): weight_norm off
and on, everything else the set's own. Both keep Polyak averages of decay --ema_decay (0.99: about the last 100
steps, suited to runs this short; the paper sets' 0.9995 averages ~2000 steps), so each run is evaluated twice at
every point: its raw weights and its averages. Evaluation: the first --eval_images real CIFAR-10 test images of
examples/data/cifar10 (the same images for every row and point); training on its 2,034 training images
(--data_dir=../shared/data/cifar10: the 5,085-image subset). Each figure is compared with the row above it in
the table (the plain recipe) at the same step; uniform is 8 bits/dim.
"""
import argparse
import logging
import os
import sys
import tempfile

from common import CIFAR10_SAMPLE, REPO, record, run_with_results

SETS = ("pixelcnn_pp_cifar10_tiny", "pixelsnail_cifar10_tiny", "gated_pixelcnn_cifar10_tiny")


def train_and_evaluate(set_name, weight_norm, args, scratch):
    from imgtf import catalog, registry
    from imgtf.train import run_dir
    from imgtf.evaluation.evaluator import Evaluator
    from imgtf.train.trainer import Trainer

    catalog.load_builtins()
    model, problem = registry.model_and_problem_of(set_name)
    out = os.path.join(scratch, f"{set_name}_wn{int(weight_norm)}")
    overrides = f"weight_norm={weight_norm},ema_decay={args.ema_decay},eval_batch_size=32"
    spec = run_dir.resolve(out, problem, model, set_name, overrides)
    run_dir.save(spec, out)
    trainer = Trainer(spec, out, args.data_dir, seed=args.seed)
    eval_steps = args.eval_images // 32
    curve = {"raw": {}, "averaged": {}}
    for point in args.points:
        trainer.train(point, checkpoint_every=10 ** 9, log_every=max(args.points))
        curve["raw"][point] = Evaluator.of(trainer).evaluate("test", eval_steps, averaged=False)["bits_per_dim"]
        curve["averaged"][point] = Evaluator.of(trainer).evaluate("test", eval_steps, averaged=True)["bits_per_dim"]
    return curve


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--points", default="", help="steps at which to evaluate (default: 4 points up to --steps)")
    parser.add_argument("--ema_decay", type=float, default=0.99)
    parser.add_argument("--eval_images", type=int, default=256)
    parser.add_argument("--data_dir", default=CIFAR10_SAMPLE)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    args.points = ([int(p) for p in args.points.split(",")] if args.points else
                   [args.steps // 4, args.steps // 2, 3 * args.steps // 4, args.steps])
    logging.getLogger("imgtf").setLevel(logging.WARNING)
    results = {}
    print(f"bits/dim on the first {args.eval_images} test images of {os.path.relpath(args.data_dir, REPO)} "
          f"(uniform: 8.000); each run from seed {args.seed}; Polyak decay {args.ema_decay}; in brackets: the "
          "difference from the plain recipe's figure at the same step (negative = better)\n")
    with tempfile.TemporaryDirectory() as scratch:
        for set_name in args.sets.split(","):
            plain = train_and_evaluate(set_name, False, args, scratch)
            normalized = train_and_evaluate(set_name, True, args, scratch)
            rows = {"plain": plain["raw"], "Polyak averages": plain["averaged"],
                    "weight norm + data init": normalized["raw"],
                    "weight norm + data init + Polyak": normalized["averaged"]}
            results[set_name] = rows
            print(f"{set_name}\n\n| recipe | " + " | ".join(f"step {p}" for p in args.points) + " |")
            print("|---|" + "---|" * len(args.points))
            for label, curve in rows.items():
                cells = [f"{curve[p]:.3f}" + ("" if label == "plain" else f" ({curve[p] - plain['raw'][p]:+.3f})")
                         for p in args.points]
                print(f"| {label} | " + " | ".join(cells) + " |")
            print()
            sys.stdout.flush()
    record(results=results, points=args.points, ema_decay=args.ema_decay, eval_images=args.eval_images)


if __name__ == "__main__":
    run_with_results("training_recipes", main)
