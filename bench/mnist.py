"""Binarized MNIST, the PixelRNN paper's one benchmark a CPU can approach: every MNIST hparams set trained for a
wall-clock budget on real digits, nats per image on held-out digits at several points, beside the published figures.

    python bench/mnist.py                                    # every MNIST set, 30 minutes each
    python bench/mnist.py --sets=pixelcnn_binarized_mnist --budget_minutes=10 --parallel=2
    python bench/mnist.py --binarization=dynamic             # image_mnist with a fresh draw per epoch
    python bench/mnist.py --sets=pixelcnn_binarized_mnist_2h --binarization=dynamic --budget_minutes=120 \
        --keep_dir=bench/results/presets      # keep the run (bench/presets.py trains the shipped presets so)

Data: the real MNIST training digits in ../shared/data/mnist (a partial copy: 17,435 of the 60,000, no test files).
The last --eval_digits of them are held out as the test split and never trained on. --binarization=fixed (default,
the paper's protocol) binarizes every digit once (1 with probability intensity/255, numpy seed 0, as Larochelle &
Murray's fixed binarization was drawn) and writes the official .amat files, read by problem image_binarized_mnist;
--binarization=dynamic writes the official IDX files and trains image_mnist with binarization=dynamic (a fresh draw
per epoch, the held-out digits drawn once: pytorch-generative's protocol). The published figures: PixelRNN paper,
fixed binarization, 50,000 training digits; pytorch-generative, dynamic binarization, 60,000 digits, 457 epochs on a
GPU. Neither is on these digits, so they say where the curves are heading, not what they must reach here.

Each set trains in its own process through the Trainer and tf.data pipeline imgtf-trainer uses, with its own batch
size and recipe, until its budget of training time is spent (evaluations are not counted in it); it evaluates the
whole held-out split at --points evenly spaced times. --parallel=2 runs two sets at once, each on one core
(TensorFlow limited to one thread per process, pinned with sched_setaffinity): both budgets then pass in the same
wall-clock time, each at one core's speed. Results go to bench/results/mnist/ (gitignored): results.json,
mnist_curves.png and samples_<set>.png (16 cached samples at temperature 1.0).
"""
import argparse
import contextlib
import json
import math
import os
import subprocess
import sys
import tempfile
import time

from common import REPO, SHARED_DATA, draw_curves, peak_rss_mib, record, run_with_results

UNIFORM = 784 * math.log(2)  # 543.4 nats: every pixel a fair coin
MNIST_DIR = os.path.join(SHARED_DATA, "mnist")
RESULTS = os.path.join(REPO, "bench", "results", "mnist")
# (source, binarization, nats) per set: what the set's docstring targets
PUBLISHED = {
    "diagonal_bilstm_binarized_mnist": ("PixelRNN paper, Table 4", "fixed", 79.20),
    "diagonal_bilstm_binarized_mnist_1h": ("PixelRNN paper, Table 4", "fixed", 79.20),
    "pixelcnn_binarized_mnist": ("pytorch-generative README", "dynamic", 81.45),
    "pixelcnn_binarized_mnist_2h": ("pytorch-generative README", "dynamic", 81.45),
    "gated_pixelcnn_binarized_mnist": ("pytorch-generative README", "dynamic", 81.50),
    "pixelsnail_binarized_mnist": ("pytorch-generative README", "dynamic", 78.61),
    "imagetransformer_binarized_mnist": ("pytorch-generative README (ImageGPT)", "dynamic", 79.17),
}


def write_data(out, eval_digits, binarization, mnist_dir=MNIST_DIR):
    """The real digits as official files under `out`: train = all but the last eval_digits, test = those. Returns
    (problem, problem_options, train_count, test_count)."""
    import numpy as np

    from imgtf.data import amat, idx

    digits = idx.read_split(mnist_dir, "train")
    images, labels = digits.images[..., 0], digits.labels.astype(np.uint8)
    train, test = slice(0, len(images) - eval_digits), slice(len(images) - eval_digits, len(images))
    if binarization == "dynamic":
        for split, part in (("train", train), ("t10k", test)):
            idx.write_idx(images[part], os.path.join(out, f"{split}-images-idx3-ubyte.gz"))
            idx.write_idx(labels[part], os.path.join(out, f"{split}-labels-idx1-ubyte.gz"))
        return "image_mnist", "binarization=dynamic", train.stop, eval_digits
    binary = (np.random.default_rng(0).random(images.shape) < images / 255.0).astype(np.uint8)[..., None]
    amat.write(binary[train], os.path.join(out, "binarized_mnist_train.amat"))
    amat.write(binary[test], os.path.join(out, "binarized_mnist_test.amat"))
    return "image_binarized_mnist", "", train.stop, eval_digits


def child(set_name, data_dir, problem, options, budget_s, points, seed, num_samples, out_dir, one_core, overrides="",
          keep_dir=None):
    if one_core:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    import logging

    from imgtf import catalog, registry
    from imgtf.data import grids
    from imgtf.sampling import cached_sample
    from imgtf.train import run_dir
    from imgtf.evaluation.evaluator import Evaluator
    from imgtf.train.trainer import Trainer

    logging.getLogger("imgtf").setLevel(logging.ERROR)
    catalog.load_builtins()
    model_name = registry.model_and_problem_of(set_name)[0]
    with contextlib.nullcontext(os.path.join(keep_dir, set_name)) if keep_dir else tempfile.TemporaryDirectory() as out:
        spec = run_dir.resolve(out, problem, model_name, set_name, overrides, problem_options=options)
        trainer = Trainer(spec, out, data_dir, seed=seed)
        if keep_dir:  # a kept run is a run directory the commands and imgtf.save_preset read
            spec.random_seed = seed
            run_dir.save(spec, out)
        start = time.time()
        trainer.train(1, checkpoint_every=10**9, log_every=10**9)  # traces and compiles the step
        compile_s, trained_s, curve = time.time() - start, 0.0, []
        for i in range(1, points + 1):
            start = time.time()
            trainer.train(10**9, checkpoint_every=10**9, log_every=10**9,
                          time_limit_s=max(budget_s * i / points - trained_s, 0))
            trained_s += time.time() - start
            entry = Evaluator.of(trainer).evaluate("test")
            step = int(trainer.step.numpy())
            curve.append({"minutes": trained_s / 60, "step": step, "nats": entry["nats_per_image"],
                          "bits_per_dim": entry["bits_per_dim"], "epochs": step * trainer.global_batch_size
                          / trainer.problem.split_size("train", data_dir)})
            print(json.dumps({"progress": set_name, **curve[-1]}), file=sys.stderr, flush=True)
        # the same measure on (about) as many training digits: the gap is what the model has fitted to its digits
        evaluator = Evaluator.of(trainer)
        seen = evaluator.evaluate("train", eval_steps=max(1, -(-entry["num_images"] // evaluator.batch_size)))
        result = {"train_nats": seen["nats_per_image"], "train_digits_evaluated": seen["num_images"]}
        result.update({"set": set_name, "model": model_name, "problem": problem, "options": options,
                       "hparams": overrides, "batch": trainer.global_batch_size,
                       "params": int(trainer.model.count_params()), "curve": curve,
                       "eval_digits": entry["num_images"], "compile_s": compile_s,
                       "images_per_sec": (curve[-1]["step"] - 1) * trainer.global_batch_size / max(trained_s, 1e-9)})
        if num_samples:
            start = time.time()
            samples = cached_sample(trainer.model, num_samples, 1.0, seed).numpy()
            result["sample_s_per_image"] = (time.time() - start) / num_samples  # includes compilation
            path = os.path.join(out_dir, f"samples_{set_name}.png")
            grids.save_png(grids.sample_grid(samples, columns=int(math.sqrt(num_samples)) or 1,
                                                 num_levels=2), path)
            result["samples_png"] = path
        result["peak_rss_mib"] = peak_rss_mib()
        print(json.dumps(result))


def plot_curves(results, path, width=1000, height=600):
    from PIL import Image, ImageDraw

    curves = [(r["set"], [(p["minutes"], p["nats"]) for p in r["curve"]]) for r in results if "curve" in r]
    if not curves:
        return None
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    left, right, top, bottom = 70, 360, 30, 60
    x_max = max(m for _, c in curves for m, _ in c) or 1
    values = [n for _, c in curves for _, n in c] + [75.0]
    y_lo, y_hi = 10 * math.floor(min(values) / 10), 10 * math.ceil(min(max(values), 200) / 10)
    px = lambda m: left + (width - left - right) * m / x_max  # noqa: E731
    py = lambda n: top + (height - top - bottom) * (y_hi - min(n, y_hi)) / (y_hi - y_lo)  # noqa: E731
    draw.rectangle([left, top, width - right, height - bottom], outline="black")
    for y in range(int(y_lo), int(y_hi) + 1, 10):
        draw.line([left - 4, py(y), left, py(y)], fill="black")
        draw.text((left - 40, py(y) - 6), f"{y}", fill="black")
    for m in range(0, int(x_max) + 1, max(int(x_max) // 6, 1)):
        draw.text((px(m) - 8, height - bottom + 8), str(m), fill="black")
    for nats, label in ((85.0, "85 nats (the target)"), (79.20, "79.20 (PixelRNN paper)")):
        draw.line([left, py(nats), width - right, py(nats)], fill=(170, 170, 170))
        draw.text((left + 4, py(nats) - 14), label, fill=(120, 120, 120))
    draw.text(((left + width - right) // 2 - 60, height - 25), "training minutes", fill="black")
    draw.text((8, 8), "held-out nats per image (lower is better; values above the top are clipped)", fill="black")
    draw_curves(draw, curves, px, py, legend_x=width - right, top=top)
    image.save(path)
    return path


def table(results, binarization):
    lines = ["| hparams set | parameters | batch | training images/s | "
             "nats per held-out digit at each point (minutes: nats) | last | epochs | training digits (last) | "
             "published (source, binarization) | last minus published |",
             "|---|---:|---:|---:|---|---:|---:|---:|---|---:|"]
    for r in results:
        source, kind, nats = PUBLISHED.get(r["set"], ("", "", None))
        if "error" in r:
            lines.append(f"| `{r['set']}` | {r['error']} | | | | | | | {nats} ({source}, {kind}) | |")
            continue
        last = r["curve"][-1]
        points = ", ".join(f"{p['minutes']:.0f}: {p['nats']:.2f}" for p in r["curve"])
        gap = f"{last['nats'] - nats:+.2f}" if nats else ""
        seen = f"{r['train_nats']:.2f}" if "train_nats" in r else "not measured"
        name = f"`{r['set']}`" + (f" with `{r['hparams']}`" if r.get("hparams") else "")
        lines.append(f"| {name} | {r['params']:,} | {r['batch']} | {r['images_per_sec']:.0f} | {points} | "
                     f"**{last['nats']:.2f}** | {last['epochs']:.1f} | {seen} | {nats} ({source}, {kind}) | {gap} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default=",".join(PUBLISHED), help="comma-separated MNIST hparams sets")
    parser.add_argument("--budget_minutes", type=float, default=30.0, help="training time per set")
    parser.add_argument("--points", type=int, default=6, help="evaluations, evenly spaced in training time")
    parser.add_argument("--eval_digits", type=int, default=1000, help="the last N digits, held out as test")
    parser.add_argument("--binarization", choices=("fixed", "dynamic"), default="fixed")
    parser.add_argument("--parallel", type=int, choices=(1, 2), default=1, help="2: two sets at once, a core each")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hparams", default="", help="overrides applied to every set (e.g. batch_size=32)")
    parser.add_argument("--num_samples", type=int, default=16)
    parser.add_argument("--mnist_dir", default=MNIST_DIR)
    parser.add_argument("--out_dir", default=RESULTS)
    parser.add_argument("--keep_dir", help="keep the data (KEEP_DIR/data) and each set's run (KEEP_DIR/SET) there, "
                        "e.g. to make a preset of it with imgtf.save_preset")
    parser.add_argument("--child", nargs=1, help=argparse.SUPPRESS)
    parser.add_argument("--data_dir", help=argparse.SUPPRESS)
    parser.add_argument("--problem", help=argparse.SUPPRESS)
    parser.add_argument("--options", default="", help=argparse.SUPPRESS)
    parser.add_argument("--core", type=int, default=-1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    if args.child:
        if args.core >= 0:
            os.sched_setaffinity(0, {args.core})
        return child(args.child[0], args.data_dir, args.problem, args.options, args.budget_minutes * 60,
                     args.points, args.seed, args.num_samples, args.out_dir, args.core >= 0, args.hparams,
                     args.keep_dir)
    sets = [s for s in args.sets.split(",") if s]
    if args.keep_dir:
        os.makedirs(os.path.join(args.keep_dir, "data"), exist_ok=True)
    with (contextlib.nullcontext(os.path.join(args.keep_dir, "data")) if args.keep_dir
          else tempfile.TemporaryDirectory()) as data_dir:
        problem, options, train_count, test_count = write_data(data_dir, args.eval_digits, args.binarization,
                                                               args.mnist_dir)
        how = ("binarized once (fixed, numpy seed 0), read as .amat by image_binarized_mnist"
               if args.binarization == "fixed" else "a fresh draw per epoch (image_mnist, binarization=dynamic), "
               "the held-out digits drawn once")
        print(f"{len(sets)} MNIST sets, {args.budget_minutes:g} training minutes each"
              f"{', two at a time on one core each' if args.parallel == 2 else ''}; {train_count:,} real MNIST "
              f"training digits, the following {test_count:,} held out; {how}; {os.cpu_count()} CPUs\n", flush=True)
        results = run_sets(sets, args, data_dir, problem, options)
    print()
    print(table(results, args.binarization))
    print()
    print(f"Nats per image over the {test_count:,} held-out digits (uniform: {UNIFORM:.1f}); the budget counts "
          "training time only. Training digits: the same measure on as many of the digits trained on (a held-out "
          "figure far above it: the model is fitting its digits, not digits). Published figures are for other data "
          "(50,000 or 60,000 training digits, the official test digits) after far longer training: a gap to them is "
          "what the time, the digits and the model leave.")
    record(binarization=args.binarization, train_digits=train_count, eval_digits=test_count,
           budget_minutes=args.budget_minutes, parallel=args.parallel, results=results)
    with open(os.path.join(args.out_dir, "results.json"), "w") as f:
        json.dump({"args": vars(args), "results": results}, f, indent=2)
    plot = plot_curves(results, os.path.join(args.out_dir, "mnist_curves.png"))
    print(f"\nresults.json, {os.path.basename(plot) if plot else 'no plot'} and samples_<set>.png in {args.out_dir}")


def run_sets(sets, args, data_dir, problem, options):
    """Each set in its own process, one or two at a time; results in the order of `sets`."""
    common_args = [f"--data_dir={data_dir}", f"--problem={problem}", f"--options={options}",
                   f"--budget_minutes={args.budget_minutes}", f"--points={args.points}", f"--seed={args.seed}",
                   f"--num_samples={args.num_samples}", f"--out_dir={args.out_dir}", f"--hparams={args.hparams}",
                   *([f"--keep_dir={os.path.abspath(args.keep_dir)}"] if args.keep_dir else [])]
    pending, running, results = list(enumerate(sets)), {}, {}
    while pending or running:
        while pending and len(running) < args.parallel:
            i, name = pending.pop(0)
            free = sorted(set(range(args.parallel)) - {core for _, core, _ in running.values()})[0]
            core = [f"--core={free}"] if args.parallel == 2 else []
            log = open(os.path.join(args.out_dir, f"{name}.log"), "w")  # progress lines; a pipe could fill and block
            proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--child", name, *common_args, *core],
                                    stdout=subprocess.PIPE, stderr=log, text=True, cwd=REPO)
            running[i] = (proc, free, time.time())
        time.sleep(1)
        for i, (proc, _, started) in list(running.items()):
            if proc.poll() is None:
                continue
            out, _ = proc.communicate()
            del running[i]
            try:
                result = json.loads(out.strip().splitlines()[-1])
            except (IndexError, ValueError):
                with open(os.path.join(args.out_dir, f"{sets[i]}.log")) as f:
                    err = f.read().strip()
                tail = err.splitlines()[-1] if err else "no output"
                result = {"error": f"exit {proc.returncode}: {tail}"}
            result.setdefault("set", sets[i])
            result["wall_s"] = time.time() - started
            results[i] = result
            status = result.get("error") or f"{result['curve'][-1]['nats']:.2f} nats"
            print(f"  {sets[i]}: {status} ({result['wall_s'] / 60:.1f} min)", flush=True)
    return [results[i] for i in range(len(sets))]


if __name__ == "__main__":
    run_with_results("mnist", main)
