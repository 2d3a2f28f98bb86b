"""Training efficiency on this machine: achieved FLOP/s of a training step as a fraction of a large matrix
product's FLOP/s measured in the same process, the effect of oneDNN / XLA / thread settings, and the
scaling of throughput from 1 to 2 replicas (MirroredStrategy over logical CPU devices).

    python bench/train_efficiency.py            # tiny and base sets
    python bench/train_efficiency.py --quick    # tiny set only

FLOPs are counted analytically for what the model computes (padding included): per position and layer,
the q/k/v/output projections 4*2*d*a, attention 2*2*a*M over the M keys of its query block's memory, the
feed-forward 2*2*d*f, plus the output layer 2*d*P; a training step is 3x the forward pass.
Each configuration runs in its own process (peak memory is its own; environment variables take effect).
"""
import argparse
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import CIFAR10_SAMPLE, REPO, peak_rss_mib, run_child, run_with_results  # noqa: E402


def forward_flops_per_image(model):
    hp, g = model.hparams, model.geometry
    d, a, f = hp["hidden_size"], hp["attention_key_channels"] or hp["hidden_size"], hp["filter_size"]
    positions = g.num_slots
    memory = g.memory.shape[1]
    per_layer = positions * (4 * 2 * d * a + 2 * 2 * a * memory + 2 * 2 * d * f)
    return hp["num_decoder_layers"] * per_layer + g.length * 2 * d * model.likelihood.params_per_unit


def matmul_flops_per_second(n=2048, repeats=10):
    import tensorflow as tf

    a = tf.random.normal([n, n])
    b = tf.random.normal([n, n])
    product = tf.function(lambda a, b: tf.matmul(a, b))
    product(a, b).numpy()
    start = time.time()
    for _ in range(repeats):
        out = product(a, b)
    out.numpy()
    return 2 * n ** 3 * repeats / (time.time() - start)


def child(hparams_set, overrides, steps, replicas, xla, data_dir):
    sys.path.insert(0, REPO)
    import logging

    import imgtf  # noqa: F401
    from imgtf.train import distribution

    if replicas > 1:
        distribution.split_cpu(replicas)
    import tensorflow as tf

    from imgtf import catalog, registry
    from imgtf.train import run_dir
    from imgtf.train.trainer import Trainer

    logging.getLogger("imgtf").setLevel(logging.ERROR)
    catalog.load_builtins()
    peak = matmul_flops_per_second()
    strategy = (tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(replicas)]) if replicas > 1
                else tf.distribute.OneDeviceStrategy("/cpu:0"))
    with tempfile.TemporaryDirectory() as out:
        spec = run_dir.resolve(out, "image_cifar10", "image_transformer", hparams_set, overrides)
        trainer = Trainer(spec, out, data_dir, strategy=strategy, xla=xla)
        stamps = []
        trainer.train(steps + 1, checkpoint_every=10**9, log_every=10**9, on_step=lambda s, l: stamps.append(time.time()))
        seconds = (stamps[-1] - stamps[0]) / steps
        flops = 3 * forward_flops_per_image(trainer.model) * trainer.global_batch_size
        print(json.dumps({"images_per_sec": trainer.global_batch_size / seconds, "seconds_per_step": seconds,
                          "step_gflops": flops / seconds / 1e9, "matmul_gflops": peak / 1e9,
                          "efficiency": flops / seconds / peak, "peak_rss_mib": peak_rss_mib(), "xla": trainer.xla}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--data_dir", default=CIFAR10_SAMPLE, help="CIFAR-10 python batches (default: the "
                        "sample in examples/data; ../shared/data/cifar10 holds 5,085 training images)")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        name, overrides, steps, replicas, xla = args.child
        return child(name, overrides, int(steps), int(replicas), xla == "1", args.data_dir)
    tiny = "imagetransformer_cifar10_tiny"
    rows = [  # (label, set, overrides, steps, replicas, xla, environment)
        ("tiny, default (oneDNN on)", tiny, "batch_size=8", 10, 1, 0, {}),
        ("tiny, oneDNN off", tiny, "batch_size=8", 10, 1, 0, {"TF_ENABLE_ONEDNN_OPTS": "0"}),
        ("tiny, XLA", tiny, "batch_size=8", 10, 1, 1, {}),
        ("tiny, 1 intra-op thread", tiny, "batch_size=8", 10, 1, 0, {"TF_NUM_INTRAOP_THREADS": "1"}),
        ("tiny, 2 replicas x 4", tiny, "batch_size=4", 10, 2, 0, {}),
        ("tiny, 1 replica x 8", tiny, "batch_size=8", 10, 1, 0, {}),
    ]
    if not args.quick:
        rows += [("base, default (oneDNN on)", "imagetransformer_cifar10_base", "batch_size=8", 2, 1, 0, {}),
                 ("base, oneDNN off", "imagetransformer_cifar10_base", "batch_size=8", 2, 1, 0,
                  {"TF_ENABLE_ONEDNN_OPTS": "0"})]
    print(f"Training efficiency, 32x32x3, real CIFAR-10, {os.cpu_count()} CPUs")
    print(f"{'configuration':<28} {'images/s':>9} {'s/step':>7} {'step GFLOP/s':>13} {'matmul GFLOP/s':>15} "
          f"{'efficiency':>11} {'peak MiB':>9}")
    results = {}
    for label, name, overrides, steps, replicas, xla, env in rows:
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            r = run_child(__file__, ["--child", name, overrides, str(steps), str(replicas), str(xla),
                                     f"--data_dir={args.data_dir}"], 20 * 1024, 3600)
        finally:
            for k, v in saved.items():
                os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
        results[label] = r
        if "error" in r:
            print(f"{label:<28} failed: {r['error']}")
            continue
        print(f"{label:<28} {r['images_per_sec']:>9.2f} {r['seconds_per_step']:>7.2f} {r['step_gflops']:>13.1f} "
              f"{r['matmul_gflops']:>15.1f} {r['efficiency']:>10.0%} {r['peak_rss_mib']:>9.0f}", flush=True)
    one, two = results.get("tiny, 1 replica x 8"), results.get("tiny, 2 replicas x 4")
    if one and two and "error" not in one and "error" not in two:
        print(f"scaling 1 -> 2 replicas (same global batch 8, 2 logical devices on the same 2 cores): "
              f"{two['images_per_sec'] / one['images_per_sec']:.2f}x")


if __name__ == "__main__":
    run_with_results("train_efficiency", main)
