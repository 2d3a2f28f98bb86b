"""How fast every `_tiny` hparams set learns on real images: bits/dim on a fixed slice of the real test split at
several steps of one training run, from the same seed, with a learning-curve plot and a sample grid per set.

    python bench/learning.py                                    # every _tiny set, 300 steps (about 80 minutes)
    python bench/learning.py --sets=imagetransformer_cifar10_tiny,img2img_transformer_celeba_1d_tiny --steps=100
    python bench/learning.py --points=25,50 --steps=50 --num_samples=0   # a quick look, no sampling

Data: the real CIFAR-10 sample in examples/data/cifar10 (2,034 training images; the first --eval_images of its
1,017 test images are the evaluation slice, the same for every set and point); --data_dir=../shared/data/cifar10
trains on the 5,085-image subset. There is no real downsampled
ImageNet here, so the ImageNet `_tiny` sets train and evaluate on CIFAR-10 (marked in the table); their
figures say how the recipe learns, not what it reaches on ImageNet. Super-resolution sets (`img2img_*`) run on
`img2img_cifar10`: the same 32x32 targets as `image_cifar10`, conditioned on their 8x8 area downsample, and are
compared with the unconditional `imagetransformer_cifar10_tiny` at every point (a super-resolution model that
uses its input must be clearly below it), as are class-conditional sets (which must be no worse, paper 5.2; they
are also evaluated with every test image given the wrong class, to show the label is used). Every set is also
compared with the uniform distribution (8 bits/dim).

Each set trains in its own process through the Trainer and tf.data pipeline `imgtf-trainer` uses, with the
set's own batch size and learning-rate recipe. images/s counts training steps only (not the first, compiling
step, nor evaluations). Samples: the cached sampler at temperature 1.0 (super-resolution sets: one sample for
each of the first test inputs, shown as input | sample | original, with the paper's consistency metric;
class-conditional sets: classes 0, 1, 2, ...). Results go to bench/results/learning/ (gitignored):
results.json, learning_curves.png, samples_<set>.png.
"""
import argparse
import json
import math
import os
import sys
import tempfile
import time

from common import (CIFAR10_SAMPLE, REPO, cifar_model_and_problem, draw_curves, peak_rss_mib, record,
                    run_child, run_with_results)

UNIFORM = 8.0  # bits/dim of the uniform distribution over 256 values
UNCONDITIONAL = "imagetransformer_cifar10_tiny"  # what super-resolution sets are compared with
RESULTS = os.path.join(REPO, "bench", "results", "learning")


def tiny_sets():
    from imgtf import catalog, registry

    catalog.load_builtins()
    return [name for name in registry.hparams_sets.names() if name.endswith("_tiny")]


def problem_for(set_name):
    """(model, problem, note): the set's model and its CIFAR-10 problem (common.cifar_model_and_problem)."""
    model, problem = cifar_model_and_problem(set_name)
    note = "ImageNet set run on CIFAR-10 (no real downsampled ImageNet here)" if "imagenet" in set_name else ""
    return model, problem, note


def child(set_name, steps, points, eval_images, seed, num_samples, data_dir, overrides, out_dir):
    import logging

    import numpy as np
    import tensorflow as tf

    import imgtf  # noqa: F401
    from imgtf import catalog, registry
    from imgtf.data import grids
    from imgtf.sampling import cached_sample
    from imgtf.sampling.decode import consistency
    from imgtf.train import run_dir
    from imgtf.train.trainer import Trainer

    logging.getLogger("imgtf").setLevel(logging.ERROR)
    catalog.load_builtins()
    model_name, problem_name, _ = problem_for(set_name)
    with tempfile.TemporaryDirectory() as out:
        spec = run_dir.resolve(out, problem_name, model_name, set_name, overrides)
        trainer = Trainer(spec, out, data_dir, seed=seed)
        # the evaluation slice: the first eval_images test images, read once, in fixed batches
        slice_, count = [], 0
        for batch in trainer.problem.dataset("test", data_dir, 32):
            take = min(int(batch["targets"].shape[0]), eval_images - count)
            slice_.append({k: v[:take] for k, v in batch.items()})
            count += take
            if count >= eval_images:
                break
        dims = int(np.prod(trainer.problem.image_shape))
        nll = tf.function(lambda f: -tf.reduce_sum(trainer.model.log_prob(f, training=False)))

        def bits_per_dim(relabel=None):
            batches = slice_ if relabel is None else [{**f, "label": relabel(f["label"])} for f in slice_]
            return sum(float(nll(f)) for f in batches) / (count * dims * math.log(2))

        start = time.time()
        trainer.train(1, checkpoint_every=10**9, log_every=10**9)  # traces and compiles the step
        compile_s, train_s = time.time() - start, 0.0
        curve = {}
        for point in points:
            start = time.time()
            trainer.train(point, checkpoint_every=10**9, log_every=10**9)
            train_s += time.time() - start
            curve[point] = bits_per_dim()
            print(json.dumps({"progress": set_name, "step": point, "bits_per_dim": curve[point]}), file=sys.stderr,
                  flush=True)
        result = {"set": set_name, "model": model_name, "problem": problem_name, "steps": steps,
                  "batch": trainer.global_batch_size, "params": int(trainer.model.count_params()),
                  "curve": curve, "eval_images": count, "compile_s": compile_s,
                  "images_per_sec": (steps - 1) * trainer.global_batch_size / max(train_s, 1e-9)}
        if trainer.model.uses_label:
            # does the model use its label? the same images, each given the next class instead of its own
            classes = trainer.problem.num_classes
            result["wrong_label_bits_per_dim"] = bits_per_dim(lambda y: (y + 1) % classes)
        num_samples = min(num_samples, int(slice_[0]["targets"].shape[0]))
        if num_samples:
            features, originals = None, None
            first = slice_[0]
            if trainer.model.uses_encoder:
                features = {"inputs": first["inputs"][:num_samples]}
                originals = first["targets"][:num_samples].numpy()
            elif trainer.model.uses_label:
                # num_samples of every class, one row per class
                labels = np.repeat(np.arange(trainer.problem.num_classes, dtype=np.int32), num_samples)
                features = {"label": labels}
            start = time.time()
            count_samples = len(features["label"]) if features and "label" in features else num_samples
            samples = cached_sample(trainer.model, count_samples, 1.0, seed, features=features).numpy()
            result["sample_s_per_image"] = (time.time() - start) / count_samples  # includes compilation
            path = os.path.join(out_dir, f"samples_{set_name}.png")
            if originals is not None:
                low = features["inputs"].numpy()
                result["consistency"] = float(np.mean(consistency(low, samples)))
                grids.save_png(grids.comparison_grid(low, samples[:, None], originals), path)
            else:
                if features and "label" in features:
                    result.update(class_colour_agreement(samples, features["label"], trainer.problem, data_dir))
                grids.save_png(grids.sample_grid(samples, columns=num_samples), path)
            result["samples_png"] = path
        result["peak_rss_mib"] = peak_rss_mib()
        print(json.dumps(result))


def class_colour_agreement(samples, labels, problem, data_dir, permutations=2000):
    """Do the samples differ by class the way real images do? Per class, the mean colour (R, G, B) of its samples
    and of the real test images of that class, each minus its all-class mean; the Pearson correlation of the two
    over the 10 x 3 values (1: every class's samples are off the overall colour the way its real images are; about
    0: the label does not change the samples). The p-value is the share of random relabellings of the samples that
    correlate at least as well (how often chance alone gives this)."""
    import numpy as np

    images, classes = [], []
    for batch in problem.dataset("test", data_dir, 256):
        images.append(batch["targets"].numpy().reshape(len(batch["label"]), -1, 3).mean(axis=1))
        classes.append(batch["label"].numpy())
    real_means, real_labels = np.concatenate(images), np.concatenate(classes)
    sample_means = samples.reshape(len(samples), -1, 3).mean(axis=1)

    def deviation(means, which):
        per_class = np.stack([means[which == c].mean(axis=0) for c in range(problem.num_classes)])
        return (per_class - per_class.mean(axis=0)).reshape(-1)

    real = deviation(real_means, real_labels)
    observed = float(np.corrcoef(deviation(sample_means, labels), real)[0, 1])
    rng = np.random.default_rng(0)
    chance = [np.corrcoef(deviation(sample_means, rng.permutation(labels)), real)[0, 1] for _ in range(permutations)]
    return {"class_colour_correlation": observed,
            "class_colour_p": float((np.sum(np.array(chance) >= observed) + 1) / (permutations + 1))}


# -- the plot, drawn with Pillow (no plotting dependency) ------------------------------------------------------


def plot_curves(results, path, width=1100, height=640):
    from PIL import Image, ImageDraw

    curves = [(r["set"], sorted((int(s), b) for s, b in r["curve"].items())) for r in results if "curve" in r]
    if not curves:
        return None
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    left, right, top, bottom = 70, 420, 30, 60
    x_max = max(s for _, c in curves for s, _ in c)
    values = [b for _, c in curves for _, b in c] + [UNIFORM]
    y_lo, y_hi = math.floor(min(values) * 2) / 2, math.ceil(max(values) * 2) / 2 + 0.25
    px = lambda s: left + (width - left - right) * s / x_max  # noqa: E731
    py = lambda b: top + (height - top - bottom) * (y_hi - b) / (y_hi - y_lo)  # noqa: E731
    draw.rectangle([left, top, width - right, height - bottom], outline="black")
    y = y_lo
    while y <= y_hi + 1e-9:
        draw.line([left - 4, py(y), left, py(y)], fill="black")
        draw.text((left - 40, py(y) - 6), f"{y:.1f}", fill="black")
        y += 0.5
    for s in sorted({s for _, c in curves for s, _ in c} | {0}):
        draw.line([px(s), height - bottom, px(s), height - bottom + 4], fill="black")
        draw.text((px(s) - 8, height - bottom + 8), str(s), fill="black")
    draw.line([left, py(UNIFORM), width - right, py(UNIFORM)], fill=(160, 160, 160))
    draw.text((left + 4, py(UNIFORM) - 14), "uniform (8 bits/dim)", fill=(120, 120, 120))
    draw.text(((left + width - right) // 2 - 60, height - 25), "training step", fill="black")
    draw.text((8, 8), "test bits/dim (lower is better)", fill="black")
    draw_curves(draw, curves, px, py, legend_x=width - right, top=top)
    image.save(path)
    return path


def table(results, points):
    """Markdown: bits/dim at each point, then comparisons with uniform and (super-resolution) unconditional."""
    by_set = {r["set"]: r for r in results}
    uncond = by_set.get(UNCONDITIONAL, {}).get("curve")
    lines = ["| hparams set | problem | parameters | steps x batch | "
             + " | ".join(f"bits/dim @{p}" for p in points)
             + " | below uniform (last) | training images/s | minus unconditional (each point) | consistency "
             "| wrong label minus own label (last) | class colours: samples vs real (r, p) |",
             "|---|---|---:|---:|" + "---:|" * len(points) + "---:|---:|---|---:|---:|---:|"]
    for r in results:
        if "error" in r:
            lines.append(f"| `{r['set']}` | {r.get('problem', '')} | {r['error']} |" + " |" * (len(points) + 7))
            continue
        curve = {int(k): v for k, v in r["curve"].items()}
        last = curve[max(curve)]
        problem = r["problem"] + (" (ImageNet set on CIFAR-10)" if "imagenet" in r["set"] else "")
        compared = ""
        if (r["set"].startswith("img2img_") or "_cond" in r["set"]) and uncond and r["set"] != UNCONDITIONAL:
            base = {int(k): v for k, v in uncond.items()}
            compared = " / ".join(f"{curve[p] - base[p]:+.2f}" for p in points if p in base and p in curve)
        cells = [f"`{r['set']}`", problem, f"{r['params']:,}", f"{r['steps']} x {r['batch']}"]
        cells += [f"{curve[p]:.3f}" if p in curve else "" for p in points]
        cells += [f"{UNIFORM - last:.2f} ({last / UNIFORM:.1%} of uniform)", f"{r['images_per_sec']:.1f}", compared,
                  f"{r['consistency']:.4f}" if "consistency" in r else "",
                  f"{r['wrong_label_bits_per_dim'] - last:+.3f}" if "wrong_label_bits_per_dim" in r else "",
                  f"{r['class_colour_correlation']:.2f}, p={r['class_colour_p']:.3f}" if "class_colour_p" in r else ""]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="", help="comma-separated _tiny sets (default: every registered one; "
                        f"super-resolution sets bring {UNCONDITIONAL} along for the comparison)")
    parser.add_argument("--steps", type=int, default=300, help="training steps per set")
    parser.add_argument("--points", default="50,100,200,300", help="steps at which to evaluate (<= --steps)")
    parser.add_argument("--eval_images", type=int, default=256, help="first N real test images evaluated")
    parser.add_argument("--seed", type=int, default=0, help="initialisation, data order and dropout seed")
    parser.add_argument("--num_samples", type=int, default=8, help="images sampled per set (0: no sampling)")
    parser.add_argument("--hparams", default="", help="overrides applied to every set (e.g. to compare recipes)")
    parser.add_argument("--data_dir", default=CIFAR10_SAMPLE)
    parser.add_argument("--out_dir", default=RESULTS)
    parser.add_argument("--memory_cap_gib", type=float, default=8.0)
    parser.add_argument("--timeout_s", type=float, default=3600.0, help="per set")
    parser.add_argument("--child", nargs=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    points = sorted({int(p) for p in args.points.split(",") if p} | {args.steps})
    points = [p for p in points if p <= args.steps]
    os.makedirs(args.out_dir, exist_ok=True)
    if args.child:
        return child(args.child[0], args.steps, points, args.eval_images, args.seed, args.num_samples,
                     args.data_dir, args.hparams, args.out_dir)
    sets = [s for s in args.sets.split(",") if s] or tiny_sets()
    unknown = [s for s in sets if s not in tiny_sets()]
    if unknown:
        parser.error(f"not registered _tiny sets: {', '.join(unknown)}")
    if any(s.startswith("img2img_") or "_cond" in s for s in sets) and UNCONDITIONAL not in sets:
        sets = [UNCONDITIONAL] + sets
    print(f"{len(sets)} _tiny sets, {args.steps} steps each from seed {args.seed} on real CIFAR-10 "
          f"({os.path.relpath(args.data_dir, REPO)}); bits/dim on its first {args.eval_images} test images at steps {points}; "
          f"{os.cpu_count()} CPUs\n", flush=True)
    results = []
    for set_name in sets:
        start = time.time()
        result = run_child(os.path.abspath(__file__),
                           ["--child", set_name, f"--steps={args.steps}", f"--points={','.join(map(str, points))}",
                            f"--eval_images={args.eval_images}", f"--seed={args.seed}",
                            f"--num_samples={args.num_samples}", f"--data_dir={args.data_dir}",
                            f"--hparams={args.hparams}", f"--out_dir={args.out_dir}"],
                           args.memory_cap_gib * 1024, timeout_s=args.timeout_s)
        result.setdefault("set", set_name)
        result["wall_s"] = time.time() - start
        results.append(result)
        status = result.get("error") or " ".join(f"@{k}: {v:.3f}" for k, v in result["curve"].items())
        print(f"  {set_name}: {status} ({result['wall_s']:.0f} s)", flush=True)
    print()
    print(table(results, points))
    print()
    print("bits/dim below uniform = 8 - bits/dim; super-resolution and class-conditional rows list (set - "
          f"{UNCONDITIONAL}) at every point: negative means the 8x8 input (the label) helps. Consistency: mean "
          "squared difference (on [0, 1]) between the input and the bicubic 8x8 downsample of the sample (paper 5.3). "
          "Wrong label: bits/dim of the same test images each given the next class, minus with their own label "
          "(positive: the model uses the label). Class colours: correlation of each class's mean sample colour with "
          "its real test images' (each minus the all-class mean), p = share of random relabellings doing as well.")
    for r in results:
        if r.get("note") or "imagenet" in r["set"]:
            print(f"* `{r['set']}`: {problem_for(r['set'])[2]}.")
    record(points=points, eval_images=args.eval_images, data_dir=os.path.relpath(args.data_dir, REPO),
           results=results)
    with open(os.path.join(args.out_dir, "results.json"), "w") as f:
        json.dump({"args": vars(args), "points": points, "results": results}, f, indent=2)
    plot = plot_curves(results, os.path.join(args.out_dir, "learning_curves.png"))
    print(f"\nresults.json, {os.path.basename(plot) if plot else 'no plot'} and samples_<set>.png in {args.out_dir}")


if __name__ == "__main__":
    run_with_results("learning", main)
