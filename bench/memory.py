"""Peak training memory and step time of the papers' configurations, with and without activation recomputation.

    python bench/memory.py                                    # every configuration below (~40 minutes here)
    python bench/memory.py --configs=it_local_1d,pixelcnn     # some of them
    python bench/memory.py --batch_size=4 --memory_cap_gib=22

Each configuration trains --steps steps (the first, which traces, is not timed) at --batch_size on the real
CIFAR-10 subset through the Trainer, in its own process, twice: with `recompute=false` (the baseline) and
`recompute=true`; the same invocation prints both and their ratios (memory and seconds per step). Peak memory is
the process's resident set sampled every 0.1 s (it includes TensorFlow's own ~1 GiB); a run passing
--memory_cap_gib is stopped and reported as above the cap. Reference: the reference PyTorch implementation of
imagetransformer_cifar10_base (1D local, batch 8) peaked at 12.5 GiB on this CPU (bench/reference_port.py).
"""
import argparse
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import CIFAR10_SAMPLE, REPO, peak_rss_mib, run_child, run_with_results  # noqa: E402

CONFIGS = {  # name: (hparams set, overrides)
    "it_local_1d": ("imagetransformer_cifar10_base", "attention_type=local_1d"),
    "it_local_2d": ("imagetransformer_cifar10_base", "attention_type=local_2d"),
    "it_global": ("imagetransformer_cifar10_base", "attention_type=global"),
    "pixelcnn": ("pixelcnn_cifar10", ""),
    "row_lstm": ("row_lstm_cifar10", ""),
    "diagonal_bilstm": ("diagonal_bilstm_cifar10", ""),
}


def child(hparams_set, overrides, steps, data_dir):
    sys.path.insert(0, REPO)
    import logging

    import imgtf  # noqa: F401
    from common import cifar_model_and_problem
    from imgtf.train import run_dir
    from imgtf.train.trainer import Trainer

    logging.getLogger("imgtf").setLevel(logging.ERROR)
    model, problem = cifar_model_and_problem(hparams_set)
    with tempfile.TemporaryDirectory() as out:
        spec = run_dir.resolve(out, problem, model, hparams_set, overrides)
        trainer = Trainer(spec, out, data_dir)
        stamps = []
        trainer.train(steps + 1, checkpoint_every=10**9, log_every=10**9, on_step=lambda s, l: stamps.append(time.time()))
        per_step = (stamps[-1] - stamps[0]) / steps
        print(json.dumps({"seconds_per_step": per_step, "peak_rss_mib": peak_rss_mib(),
                          "params": int(trainer.model.count_params())}))


def gib(mib):
    return f"{mib / 1024:.1f} GiB"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=2, help="timed steps after the first")
    parser.add_argument("--memory_cap_gib", type=float, default=21.0)
    parser.add_argument("--data_dir", default=CIFAR10_SAMPLE, help="CIFAR-10 python batches (default: the "
                        "sample in examples/data; ../shared/data/cifar10 holds 5,085 training images)")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child[0], args.child[1], int(args.child[2]), args.data_dir)
    print(f"Peak training memory at batch {args.batch_size}, 32x32x3 real CIFAR-10, {os.cpu_count()} CPUs, "
          f"{args.steps} timed steps, cap {args.memory_cap_gib:.0f} GiB")
    print("| configuration | hparams set | params | peak memory | s/step | peak memory, recompute | s/step, recompute "
          "| memory ratio | time ratio |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for name in args.configs.split(","):
        hparams_set, overrides = CONFIGS[name]
        runs = []
        for recompute in ("false", "true"):
            settings = ",".join(s for s in (overrides, f"batch_size={args.batch_size}", f"recompute={recompute}") if s)
            runs.append(run_child(__file__, ["--child", hparams_set, settings, str(args.steps),
                                            f"--data_dir={args.data_dir}"],
                                  args.memory_cap_gib * 1024, 7200))
        cells = []
        for r in runs:
            if "error" in r:
                cells += [f"> {args.memory_cap_gib:.0f} GiB" if "memory" in r["error"] else r["error"], "-"]
            else:
                cells += [gib(r["peak_rss_mib"]), f"{r['seconds_per_step']:.2f}"]
        base, remat = runs
        ok = "error" not in base and "error" not in remat
        ratios = [f"{remat['peak_rss_mib'] / base['peak_rss_mib']:.2f}",
                  f"{remat['seconds_per_step'] / base['seconds_per_step']:.2f}"] if ok else ["-", "-"]
        params = next((f"{r['params']:,}" for r in runs if "params" in r), "-")
        print(f"| {name} | `{hparams_set}` {overrides} | {params} | " + " | ".join(cells + ratios) + " |", flush=True)
        print(json.dumps({"config": name, "runs": runs}), file=sys.stderr, flush=True)


if __name__ == "__main__":
    run_with_results("memory", main)
