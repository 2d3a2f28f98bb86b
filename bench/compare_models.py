"""Every registered model family at tiny size, side by side: the same wall-clock training budget on the real
CIFAR-10 training subset, then test bits/dim on the real test subset, training images/s and sampling s/image.

    python bench/compare_models.py                  # 300 s of training per model (about 40 minutes in all)
    python bench/compare_models.py --budget_s=60    # a quicker look

Each model trains in its own process (its own memory and threads) through the same Trainer and tf.data
pipeline as `imgtf-trainer`, with its tiny set's batch size and learning rate. The budget starts after
the first step (tracing and compilation, reported separately). Bits/dim are over the whole test subset
(1,017 images). Sampling is the cached sampler (one compiled loop over the 3,072 sub-pixels; rows, pixels or
cached positions per model), timed on a batch of 4 after a first, compiling, call.

The Image Transformer family also has `img2img_transformer`; it is listed on `img2img_cifar10`, where it is
conditioned on an 8x8 downsample, so its bits/dim are conditional and not comparable with the others'.
"""
import argparse
import json
import os
import tempfile
import time

from common import CIFAR10_SAMPLE, REPO, peak_rss_mib, run_child, run_with_results

FAMILIES = [  # model, tiny hparams set, problem
    ("image_transformer", "imagetransformer_cifar10_tiny", "image_cifar10"),
    ("pixelcnn", "pixelcnn_cifar10_tiny", "image_cifar10"),
    ("row_lstm", "row_lstm_cifar10_tiny", "image_cifar10"),
    ("diagonal_bilstm", "diagonal_bilstm_cifar10_tiny", "image_cifar10"),
    ("multiscale_pixelrnn", "multiscale_pixelrnn_cifar10_tiny", "image_cifar10"),
    ("gated_pixelcnn", "gated_pixelcnn_cifar10_tiny", "image_cifar10"),
    ("pixelcnn_pp", "pixelcnn_pp_cifar10_tiny", "image_cifar10"),
    ("pixelsnail", "pixelsnail_cifar10_tiny", "image_cifar10"),
    ("img2img_transformer", "img2img_transformer_celeba_1d_tiny", "img2img_cifar10"),
]


def child(model_name, hparams_set, problem_name, budget_s, data_dir):
    import logging

    import imgtf  # noqa: F401
    from imgtf import catalog, registry
    from imgtf.sampling import cached_sample
    from imgtf.train import run_dir
    from imgtf.evaluation.evaluator import Evaluator
    from imgtf.train.trainer import Trainer

    logging.getLogger("imgtf").setLevel(logging.ERROR)
    catalog.load_builtins()
    with tempfile.TemporaryDirectory() as out:
        spec = run_dir.resolve(out, problem_name, model_name, hparams_set, "")
        trainer = Trainer(spec, out, data_dir)
        start = time.time()
        trainer.train(1, checkpoint_every=10**9, log_every=10**9)
        compile_s = time.time() - start
        start = time.time()
        steps = trainer.train(10**9, checkpoint_every=10**9, log_every=10**9, time_limit_s=budget_s) - 1
        train_s = time.time() - start
        entry = Evaluator.of(trainer).evaluate("test")
        features = None
        if trainer.model.uses_encoder:
            batch = next(iter(trainer.problem.dataset("test", data_dir, 4)))
            features = {"inputs": batch["inputs"]}
        cached_sample(trainer.model, 4, 1.0, 0, features=features)  # compiles
        start = time.time()
        cached_sample(trainer.model, 4, 1.0, 1, features=features).numpy()
        sample_s = (time.time() - start) / 4
        print(json.dumps({"params": int(trainer.model.count_params()), "steps": steps,
                          "batch": trainer.global_batch_size, "compile_s": compile_s,
                          "images_per_sec": steps * trainer.global_batch_size / train_s,
                          "test_bits_per_dim": entry["bits_per_dim"], "test_images": entry["num_images"],
                          "sample_s_per_image": sample_s, "peak_rss_mib": peak_rss_mib()}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget_s", type=float, default=300.0, help="training seconds per model after its first step")
    parser.add_argument("--models", default="", help="comma-separated model names (default: every family)")
    parser.add_argument("--memory_cap_gib", type=float, default=16.0)
    parser.add_argument("--data_dir", default=CIFAR10_SAMPLE, help="CIFAR-10 python batches (default: the "
                        "sample in examples/data; ../shared/data/cifar10 holds 5,085 training images)")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child[0], args.child[1], args.child[2], float(args.child[3]), args.data_dir)
    families = [f for f in FAMILIES if not args.models or f[0] in args.models.split(",")]
    print(f"Tiny models, {args.budget_s:.0f} s of training each on real CIFAR-10 "
          f"({os.path.relpath(args.data_dir, REPO)}), evaluated on its test images; {os.cpu_count()} CPUs\n")
    header = ("| model | hparams set | parameters | steps x batch | training images/s | test bits/dim "
              "| sampling s/image | compile s |")
    print(header)
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for model_name, hparams_set, problem_name in families:
        child_args = ["--child", model_name, hparams_set, problem_name, str(args.budget_s), f"--data_dir={args.data_dir}"]
        result = run_child(os.path.abspath(__file__), child_args,
                           args.memory_cap_gib * 1024, timeout_s=args.budget_s + 1800)
        if "error" in result:
            print(f"| {model_name} | {hparams_set} | {result['error']} | | | | | |", flush=True)
            continue
        note = " (conditional on 8x8)" if problem_name != "image_cifar10" else ""
        print(f"| {model_name} | {hparams_set} | {result['params']:,} | {result['steps']} x {result['batch']} "
              f"| {result['images_per_sec']:.1f} | {result['test_bits_per_dim']:.3f}{note} "
              f"| {result['sample_s_per_image']:.3f} | {result['compile_s']:.1f} |", flush=True)


if __name__ == "__main__":
    run_with_results("compare_models", main)
