"""How a training step's cost grows with the work: seconds per image and peak memory against the image side (16, 32,
64 at one batch) and against the batch (at one side), for the 1D-local, 2D-local and global Image Transformers and a
model of every convolutional and recurrent family, each at its tiny set's width and depth.

    python bench/cost_scaling.py                                  # docs/results/cost_scaling.md and .json
    python bench/cost_scaling.py --models=pixelcnn,global --sides=16,32 --out=/tmp/scaling

Every measurement is bench/timing.py's (a fresh process: its peak memory is its own; the trainer's own step, warm-up
steps untimed) on square area-resized real photographs (CelebA faces from ../shared/data, the image_folder problem).
The exponent is the slope of log(s/image) against log(pixels) over the sides measured, beside the one expected of the
model's work: 1 for convolutions, recurrences and local attention (a fixed amount per pixel), up to 2 for global
attention (every pixel attends to every earlier one; its projections and output layer stay linear, so the whole
step's exponent lies between). Below the expected value: fixed costs per step (ops launched, a recurrence's
sequential steps) that larger images amortise.
"""
import argparse
import math
import os
import shutil
import sys
import tempfile

from common import SHARED_DATA, record, run_with_results
from timing import run_measurement

TRANSFORMER = "imagetransformer_cifar10_tiny"
# name: (hparams set, overrides, exponent expected of the work)
MODELS = {
    "local_1d": (TRANSFORMER, "", 1.0),
    "local_2d": (TRANSFORMER, "attention_type=local_2d,query_shape=[4, 24],memory_flange=[4, 12]", 1.0),
    "global": (TRANSFORMER, "attention_type=global", 2.0),
    "pixelcnn": ("pixelcnn_cifar10_tiny", "", 1.0),
    "gated_pixelcnn": ("gated_pixelcnn_cifar10_tiny", "", 1.0),
    "pixelcnn_pp": ("pixelcnn_pp_cifar10_tiny", "", 1.0),
    "pixelsnail": ("pixelsnail_cifar10_tiny", "", 2.0),  # its attention is global over the pixels
    "row_lstm": ("row_lstm_cifar10_tiny", "", 1.0),
    "diagonal_bilstm": ("diagonal_bilstm_cifar10_tiny", "", 1.0),
    "multiscale_pixelrnn": ("multiscale_pixelrnn_cifar10_tiny", "", 1.0),
}


def image_folder(root, count=96, test=16):
    """ROOT/train and ROOT/test holding copies of the first CelebA photographs (178x218 JPEGs)."""
    source = os.path.join(SHARED_DATA, "celeba", "img_align_celeba")
    names = sorted(os.listdir(source))[:count + test]
    for split, chosen in (("train", names[:count]), ("test", names[count:])):
        os.makedirs(os.path.join(root, split), exist_ok=True)
        for name in chosen:
            shutil.copy(os.path.join(source, name), os.path.join(root, split, name))
    return root


def config(name, side, batch, args, data_dir):
    hparams_set, overrides, _ = MODELS[name]
    return dict(set=hparams_set, hparams=overrides, batch=batch, precision="float32", xla="off", steps_per_loop=1,
                replicas=1, input_checks="on", onednn="on", steps=args.steps, warmup=args.warmup, measure=["train"],
                eval_images=0, sample_batches=[], data_dir=data_dir, image_size=side, flops=False)


def slope(points):
    """Least-squares slope of log(y) against log(x) for [(x, y), ...]."""
    xs, ys = [math.log(x) for x, _ in points], [math.log(y) for _, y in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma-separated: {', '.join(MODELS)}")
    parser.add_argument("--sides", default="16,32,64", help="image sides, at --batch")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--batches", default="1,16", help="further batches, at the smallest side")
    parser.add_argument("--steps", type=int, default=5, help="timed training steps")
    parser.add_argument("--warmup", type=int, default=2, help="untimed training steps first")
    parser.add_argument("--timeout_s", type=int, default=900, help="per measurement")
    args = parser.parse_args()
    models = [m for m in args.models.split(",") if m]
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        parser.error(f"unknown --models {unknown}; choose from {', '.join(MODELS)}")
    sides = [int(s) for s in args.sides.split(",")]
    batches = [int(b) for b in args.batches.split(",") if b]

    rows = []
    with tempfile.TemporaryDirectory() as root:
        data_dir = image_folder(root)
        for name in models:
            runs = [(side, args.batch) for side in sides] + [(sides[0], b) for b in batches if b != args.batch]
            measured = {}
            for side, batch in runs:
                result = run_measurement(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                         config(name, side, batch, args, data_dir), args.timeout_s)
                measured[side, batch] = result
                shown = result.get("error") or (f"{result['step_ms'] / batch:.1f} ms/image, "
                                                f"{result['peak_rss_mib']:.0f} MiB")
                print(f"{name} side {side} batch {batch}: {shown}", file=sys.stderr, flush=True)
            rows.append({"model": name, "set": MODELS[name][0], "overrides": MODELS[name][1],
                         "expected_exponent": MODELS[name][2], "measured": [
                             {"side": s, "batch": b, **{k: r[k] for k in ("step_ms", "peak_rss_mib", "error", "mfu")
                                                        if k in r}} for (s, b), r in measured.items()]})

    def per_image_ms(row, side, batch):
        hit = [m for m in row["measured"] if m["side"] == side and m["batch"] == batch and "step_ms" in m]
        return hit[0]["step_ms"] / batch if hit else None

    print(f"\nTraining step at batch {args.batch}, sides {', '.join(map(str, sides))} (pixels {sides[0]}^2 to "
          f"{sides[-1]}^2); {args.warmup} untimed steps, then {args.steps} timed; float32, no XLA; real photographs.\n")
    head = (["model"] + [f"ms/image @{s}" for s in sides] + [f"peak MiB @{s}" for s in sides]
            + ["exponent (fit)", f"exponent {sides[-2]}->{sides[-1]}", "expected"])
    print("| " + " | ".join(head) + " |")
    print("|---|" + "---:|" * (len(head) - 1))
    for row in rows:
        times = [per_image_ms(row, s, args.batch) for s in sides]
        memory = [next((m["peak_rss_mib"] for m in row["measured"] if m["side"] == s and m["batch"] == args.batch
                        and "peak_rss_mib" in m), None) for s in sides]
        points = [(s * s, t) for s, t in zip(sides, times) if t]
        fit = slope(points) if len(points) >= 2 else None
        last = (math.log(times[-1] / times[-2]) / math.log((sides[-1] / sides[-2]) ** 2)
                if times[-1] and times[-2] else None)
        row.update(exponent=fit, last_exponent=last)
        cells = ([f"`{row['model']}`"] + [f"{t:.1f}" if t else "error" for t in times]
                 + [f"{m:.0f}" if m else "n/a" for m in memory]
                 + [f"{fit:.2f}" if fit is not None else "n/a", f"{last:.2f}" if last is not None else "n/a",
                    f"{row['expected_exponent']:g}"])
        print("| " + " | ".join(cells) + " |")
    if batches:
        side = sides[0]
        shown = sorted({args.batch, *batches})
        print(f"\nAt side {side}: ms per image against the batch (a falling figure: the batch fills the cores).\n")
        print("| model | " + " | ".join(f"batch {b}" for b in shown) + f" | batch {shown[0]} / batch {shown[-1]} |")
        print("|---|" + "---:|" * (len(shown) + 1))
        for row in rows:
            times = [per_image_ms(row, side, b) for b in shown]
            ratio = f"{times[0] / times[-1]:.2f}x" if times[0] and times[-1] else "n/a"
            print(f"| `{row['model']}` | " + " | ".join(f"{t:.1f}" if t else "error" for t in times) + f" | {ratio} |")
    errors = [(row["model"], m) for row in rows for m in row["measured"] if "error" in m]
    for model, m in errors:
        print(f"\n{model} side {m['side']} batch {m['batch']}: {m['error']}")
    record(batch=args.batch, sides=sides, batches=batches, steps=args.steps, warmup=args.warmup, models=rows)


if __name__ == "__main__":
    run_with_results("cost_scaling", main)
