"""Training throughput and peak memory of Image Transformer sets at 32x32x3: 1D local, 2D local, global.

    python bench/train_throughput.py            # tiny and base sets, batch 8, on real CIFAR-10
    python bench/train_throughput.py --quick    # tiny only

After training, each tiny configuration also evaluates the 1,017 test images twice (--eval_images): the second
evaluation's images/s is compared with the training images/s (a forward pass, no gradients), and the first one's
extra time is the evaluation set-up (building the pipeline, tracing the step).

Every configuration trains in its own process (so peak memory is its own) on the real CIFAR-10 subset,
through the same Trainer the command uses. The baseline is the same set with `attention_type=global`
(full causal attention over all 3072 positions), run in the same invocation; the ratios are reported.
2D local uses the set's query_shape / memory_flange (8x32 query blocks, 8 rows above and 16 columns each side).
"""
import argparse
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import CIFAR10_SAMPLE, REPO, peak_rss_mib, run_child, run_with_results  # noqa: E402


def child(hparams_set, overrides, steps, eval_images, data_dir):
    sys.path.insert(0, REPO)
    import logging

    import imgtf  # noqa: F401
    from imgtf import catalog, registry
    from imgtf.train import run_dir
    from imgtf.train.trainer import Trainer

    logging.getLogger("imgtf").setLevel(logging.ERROR)
    catalog.load_builtins()
    with tempfile.TemporaryDirectory() as out:
        spec = run_dir.resolve(out, "image_cifar10", "image_transformer", hparams_set, overrides)
        trainer = Trainer(spec, out, data_dir)
        stamps = []
        trainer.train(steps + 1, checkpoint_every=10**9, log_every=10**9, on_step=lambda s, l: stamps.append(time.time()))
        per_step = (stamps[-1] - stamps[0]) / steps  # the first step (tracing) is excluded
        result = {"images_per_sec": trainer.global_batch_size / per_step, "seconds_per_step": per_step,
                  "peak_rss_mib": peak_rss_mib(), "params": int(trainer.model.count_params())}
        if eval_images:
            eval_batches = -(-eval_images // trainer.eval_batch_size)
            # the first evaluation builds the pipeline and traces the step; the second reuses them: its rate is the
            # steady one, and the difference in time is the set-up before the first batch
            first = trainer.evaluate("test", eval_steps=eval_batches)
            again = trainer.evaluate("test", eval_steps=eval_batches)
            result.update(eval_images_per_sec=again["images_per_sec"], eval_images=again["num_images"],
                          eval_batch=trainer.eval_batch_size, eval_setup_s=first["seconds"] - again["seconds"])
        print(json.dumps(result))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny set only")
    parser.add_argument("--sets", default="", help="comma-separated hparams sets (default: tiny and base)")
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--memory_cap_gib", type=float, default=20.0)
    parser.add_argument("--attention", default="local_1d,local_2d,global", help="comma-separated types")
    parser.add_argument("--eval_images", type=int, default=1017,
                        help="test images evaluated twice after training the tiny set (0: no evaluation)")
    parser.add_argument("--data_dir", default=CIFAR10_SAMPLE, help="CIFAR-10 python batches (default: the "
                        "sample in examples/data; ../shared/data/cifar10 holds 5,085 training images)")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child[0], args.child[1], int(args.child[2]), int(args.child[3]), args.data_dir)
    sets = [("imagetransformer_cifar10_tiny", 10)] + ([] if args.quick else [("imagetransformer_cifar10_base", 3)])
    if args.sets:
        sets = [(name, 10 if name.endswith("_tiny") else 3) for name in args.sets.split(",")]
    print(f"Training throughput at 32x32x3, batch {args.batch_size}, real CIFAR-10 "
          f"(TF_ENABLE_ONEDNN_OPTS={os.environ.get('TF_ENABLE_ONEDNN_OPTS', '1 (imgtf default)')}, {os.cpu_count()} CPUs)")
    print(f"{'hparams set':<32} {'attention':<10} {'params':>10} {'images/s':>9} {'s/step':>8} {'peak MiB':>9}")
    for hparams_set, steps in sets:
        results = {}
        for attention in args.attention.split(","):
            overrides = f"batch_size={args.batch_size},attention_type={attention}"
            eval_images = args.eval_images if hparams_set.endswith("_tiny") else 0  # base: hours on this CPU
            r = run_child(__file__, ["--child", hparams_set, overrides, str(steps), str(eval_images),
                                        f"--data_dir={args.data_dir}"],
                          args.memory_cap_gib * 1024, 3600)
            results[attention] = r
            if "error" in r:
                print(f"{hparams_set:<32} {attention:<10} {'':>10} {'-':>9} {'-':>8} {r['peak_rss_mib']:>9.0f}  ({r['error']})")
            else:
                print(f"{hparams_set:<32} {attention:<10} {r['params']:>10,} {r['images_per_sec']:>9.2f} "
                      f"{r['seconds_per_step']:>8.2f} {r['peak_rss_mib']:>9.0f}", flush=True)
                if "eval_images_per_sec" in r:
                    print(f"  evaluation of {r['eval_images']} test images at batch {r['eval_batch']}: "
                          f"{r['eval_images_per_sec']:.1f} images/s = {r['eval_images_per_sec'] / r['images_per_sec']:.2f}x "
                          f"the training rate, after {r['eval_setup_s']:.1f} s of set-up (pipeline and tracing)",
                          flush=True)
        full = results.get("global")
        for name, local in results.items():
            if name == "global" or full is None or "error" in local:
                continue
            if "error" not in full:
                print(f"  -> {name} is {local['images_per_sec'] / full['images_per_sec']:.2f}x the throughput of "
                      f"global and uses {local['peak_rss_mib'] / full['peak_rss_mib']:.2f}x its peak memory")
            else:
                print(f"  -> global attention did not run ({full['error']}); {name} trains at "
                      f"{local['images_per_sec']:.2f} images/s in {local['peak_rss_mib']:.0f} MiB")


if __name__ == "__main__":
    run_with_results("train_throughput", main)
