"""The Image Transformer at a public PyTorch port's configuration, against that port's measured figures.

    python bench/reference_port.py                         # 78 steps, then 240 s of training (about 12 minutes)
    python bench/reference_port.py --hparams=initializer_gain=1.0   # Keras's default initialisation instead

Configuration (the port's): 2 layers, d=256, 4 heads, feed-forward 512, 1D local attention (query blocks of 256
sub-pixels, memory 512), batch 8, Adam (0.9, 0.98, eps 1e-9), constant learning rate 1e-3, dropout 0.1, real
CIFAR-10 (../shared/data/cifar10, 5,085 training images). The port was run once on this kind of 2-core machine,
240 s of training: 78 steps (2.60 images/s), training loss 7.14 bits/dim at step 60, and 6.71 bits/dim on the
first 256 real test images. Those figures are constants here (the port itself is not part of imgtf).

Two runs, each in its own process and from the same seed: the same number of steps as the port (78), and the
same wall-clock budget (240 s after the first, compiling, step). Both evaluate on the same 256 test images.
"""
import argparse
import json
import math
import os
import tempfile
import time

from common import SHARED_DATA, run_child, run_with_results

PORT_CONFIG = ("hidden_size=256,num_decoder_layers=2,num_heads=4,filter_size=512,query_block_length=256,"
               "memory_length=512,batch_size=8,learning_rate_schedule=constant,learning_rate=0.001,dropout=0.1,"
               "optimizer_adam_beta1=0.9,optimizer_adam_beta2=0.98,optimizer_adam_epsilon=1e-9")
PORT = {"steps": 78, "budget_s": 240.0, "images_per_sec": 2.60, "train_loss_at_60": 7.14, "test_bits_per_dim": 6.71}
EVAL_IMAGES = 256


def child(steps, budget_s, extra, data_dir):
    import logging

    import imgtf  # noqa: F401
    from imgtf import catalog, registry
    from imgtf.train import run_dir
    from imgtf.evaluation.evaluator import Evaluator
    from imgtf.train.trainer import Trainer

    logging.getLogger("imgtf").setLevel(logging.ERROR)
    catalog.load_builtins()
    overrides = PORT_CONFIG + ("," + extra if extra else "")
    losses = {}
    with tempfile.TemporaryDirectory() as out:
        spec = run_dir.resolve(out, "image_cifar10", "image_transformer", "imagetransformer_cifar10_base", overrides)
        trainer = Trainer(spec, out, data_dir, seed=0)
        record = lambda step, loss: losses.__setitem__(step, loss / math.log(2))  # noqa: E731  (nats -> bits/dim)
        trainer.train(1, checkpoint_every=10**9, log_every=10**9, on_step=record)
        start = time.time()
        if budget_s:
            reached = trainer.train(10**9, checkpoint_every=10**9, log_every=10**9, on_step=record,
                                    time_limit_s=budget_s)
        else:
            reached = trainer.train(steps, checkpoint_every=10**9, log_every=10**9, on_step=record)
        train_s = time.time() - start
        entry = Evaluator.of(trainer).evaluate("test", eval_steps=EVAL_IMAGES // trainer.global_batch_size)
    print(json.dumps({"steps": reached, "train_s": train_s, "images_per_sec": (reached - 1) * 8 / train_s,
                      "train_loss_at_60": losses.get(60), "test_bits_per_dim": entry["bits_per_dim"],
                      "test_images": entry["num_images"], "params": int(trainer.model.count_params())}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hparams", default="", help="extra overrides after the port's configuration")
    parser.add_argument("--steps", type=int, default=PORT["steps"])
    parser.add_argument("--budget_s", type=float, default=PORT["budget_s"])
    parser.add_argument("--data_dir", default=os.path.join(SHARED_DATA, "cifar10"),
                        help="the 5,085-image CIFAR-10 subset the port's figures were measured on (a different "
                        "training set makes the comparison meaningless)")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(int(args.child[0]), float(args.child[1]), args.child[2], args.data_dir)
    print(f"imagetransformer_cifar10_base with {PORT_CONFIG}" + (f",{args.hparams}" if args.hparams else ""))
    print(f"evaluated on the first {EVAL_IMAGES} real CIFAR-10 test images; the port's figures from its own run\n")
    print("| run | steps | images/s | train loss at step 60 | test bits/dim | port's test bits/dim | difference |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    runs = [("same steps as the port", args.steps, 0.0)]
    if args.budget_s > 0:  # --budget_s=0: the same-steps run only (wall-clock figures need an otherwise idle machine)
        runs.append((f"same wall-clock ({args.budget_s:.0f} s)", 0, args.budget_s))
    for name, steps, budget in runs:
        r = run_child(os.path.abspath(__file__), ["--child", str(steps), str(budget), args.hparams,
                                                      f"--data_dir={args.data_dir}"], 16 * 1024,
                      timeout_s=3600)
        if "error" in r:
            print(f"| {name} | {r['error']} | | | | | |", flush=True)
            continue
        loss60 = f"{r['train_loss_at_60']:.3f} (port {PORT['train_loss_at_60']})" if r["train_loss_at_60"] else "-"
        print(f"| {name} | {r['steps']} (port {PORT['steps']}) | {r['images_per_sec']:.2f} (port "
              f"{PORT['images_per_sec']}) | {loss60} | {r['test_bits_per_dim']:.3f} | {PORT['test_bits_per_dim']} "
              f"| {r['test_bits_per_dim'] - PORT['test_bits_per_dim']:+.3f} |", flush=True)


if __name__ == "__main__":
    run_with_results("reference_port", main)
