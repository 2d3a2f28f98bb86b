"""Where a training step's time goes: TensorFlow's profiler over the trainer's own step, per op type, for each tiny
set (one of each distinct model and hparams) or the sets named, at the set's batch on the shipped CIFAR-10 sample.

    python bench/profile_step.py                    # every tiny set; writes docs/results/profile_step.md and .json
    python bench/profile_step.py --sets=imagetransformer_cifar10_tiny --xla --out=/tmp/p

The steps are profiled after warm-up steps (tracing and the first runs are not in the table). Times are the ops'
self times as the profiler records them on this CPU (its overhead makes the steps themselves slower than unprofiled
ones: the step times printed are the profiled run's). An op type's share is of all ops' self time in those steps.
"""
import argparse
import collections
import glob
import json
import os
import sys
import tempfile
import time

from common import REPO, cifar_model_and_problem, distinct_tiny_sets, record, run_with_results

DATA = os.path.join(REPO, "examples", "data", "cifar10")


def op_stats(logdir):
    """The profiler's per-op table of the trace in `logdir`: one dict per op (type, name, occurrences, self time)."""
    from tensorflow.python.profiler.internal import _pywrap_profiler_plugin as plugin

    paths = glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True)
    data, ok = plugin.xspace_to_tools_data(paths, "framework_op_stats", {})
    if not ok:
        raise RuntimeError(f"the profiler's trace in {logdir} could not be read")
    table = json.loads(data)[0]
    ids = [c["id"] for c in table["cols"]]
    rows = [{k: cell.get("v") if cell else None for k, cell in zip(ids, row["c"])} for row in table["rows"]]
    return [r for r in rows if r["type"] != "IDLE"]


def profile(set_name, steps, warmup, xla):
    import tensorflow as tf

    from imgtf.train import run_dir
    from imgtf.train.trainer import Trainer

    model, problem = cifar_model_and_problem(set_name)
    with tempfile.TemporaryDirectory() as out, tempfile.TemporaryDirectory() as logdir:
        spec = run_dir.resolve(out, problem, model, set_name, "")
        trainer = Trainer(spec, out, DATA, seed=0, xla=xla)
        trainer.train(warmup, checkpoint_every=10**9, log_every=10**9)
        tf.profiler.experimental.start(logdir)
        start = time.perf_counter()
        trainer.train(warmup + steps, checkpoint_every=10**9, log_every=10**9)
        seconds = time.perf_counter() - start
        tf.profiler.experimental.stop()
        rows = op_stats(logdir)
    return {"batch": trainer.spec.hparams.batch_size, "xla": trainer.xla, "step_s": seconds / steps, "ops": rows}


def summary(result, top):
    """Self time per op type (share of all, time per step, calls per step), the `top` largest, and the rest."""
    steps = result["steps"]
    by_type = collections.defaultdict(lambda: [0.0, 0])
    for row in result["ops"]:
        by_type[row["type"]][0] += row["total_self_time"] or 0.0
        by_type[row["type"]][1] += row["occurrences"] or 0
    total = sum(t for t, _ in by_type.values())
    ranked = sorted(by_type.items(), key=lambda kv: -kv[1][0])
    lines = ["| op type | share of op time | ms per step | calls per step |", "|---|---:|---:|---:|"]
    for name, (t, n) in ranked[:top]:
        lines.append(f"| {name} | {100 * t / total:.1f}% | {t / steps / 1e3:.2f} | {n / steps:.0f} |")
    rest = ranked[top:]
    if rest:
        t, n = sum(v[0] for _, v in rest), sum(v[1] for _, v in rest)
        lines.append(f"| {len(rest)} other types | {100 * t / total:.1f}% | {t / steps / 1e3:.2f} | {n / steps:.0f} |")
    return total / steps / 1e3, {name: t / total for name, (t, _) in ranked}, "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="", help="comma-separated hparams sets (default: every tiny set)")
    parser.add_argument("--steps", type=int, default=8, help="steps profiled, after the warm-up")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--xla", action="store_true", help="the trainer's --xla step")
    parser.add_argument("--top", type=int, default=8, help="op types listed per set")
    args = parser.parse_args()
    import imgtf  # noqa: F401  (TensorFlow's environment defaults before it is imported)

    sets = [s for s in args.sets.split(",") if s] or distinct_tiny_sets()
    print(f"{args.steps} profiled training steps per set after {args.warmup} of warm-up, the trainer's own step "
          f"({'--xla' if args.xla else 'default flags'}), each set's batch, 32x32 CIFAR-10 images.\n")
    recorded = {}
    for set_name in sets:
        result = profile(set_name, args.steps, args.warmup, args.xla)
        result["steps"] = args.steps
        op_ms, shares, table = summary(result, args.top)
        print(f"### {set_name} (batch {result['batch']}{', XLA' if result['xla'] else ''}): "
              f"{result['step_s'] * 1e3:.0f} ms per profiled step, {op_ms:.0f} ms of it in ops\n")
        print(table + "\n", flush=True)
        recorded[set_name] = {"batch": result["batch"], "xla": result["xla"], "step_s": result["step_s"],
                              "op_ms_per_step": op_ms, "type_shares": shares,
                              "top_ops": sorted(({"name": r["operation"], "type": r["type"],
                                                  "self_us_per_step": (r["total_self_time"] or 0) / args.steps}
                                                 for r in result["ops"]), key=lambda r: -r["self_us_per_step"])[:20]}
    record(sets=recorded, steps=args.steps, warmup=args.warmup, xla=args.xla)


if __name__ == "__main__":
    run_with_results("profile_step" + ("_xla" if "--xla" in sys.argv else ""), main)
