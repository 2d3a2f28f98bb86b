"""Every registered model on a user's own 28x28 grayscale and binary problems, through the commands a user runs.

    python bench/user_images.py                      # 100 steps per run, every model, gray and binary (~25 min)
    python bench/user_images.py --steps=30 --models=pixelcnn,row_lstm --kinds=binary

The problems are registered in a --usr_dir module written here, exactly as the README shows: `ImageFolderProblem`
subclasses with image_size = 28, channels = 1, labels, and for the binary one num_levels = 2 with stochastic
binarisation. The images are CIFAR-10's (--data_dir; default the sample in examples/data, 2,034 train / 1,017
test), converted to gray: 10 class folders.
img2img_transformer gets the same problems with 7x7 inputs (4x super-resolution).

Per model and kind: `imgtf-trainer --usr_dir=...` trains --steps steps and evaluates the test split;
`imgtf-decoder` (no --usr_dir: the run remembers it) samples a PNG grid; `imgtf-exporter` exports. Then, on the
SavedModel: its bits/dim over the first 64 test images against imgtf's evaluation of the same images
(`imgtf-trainer --schedule=eval --eval_steps`), its log_prob's causality (changing pixel t leaves every earlier
sub-pixel's log-probability unchanged, and changes a later one), `sample` twice with one seed (identical), and a
3-channel image, a 28x27 image and (binary) a 0/255 image refused. Printed per run: bits/dim and nats/image on
the whole test split beside the uniform distribution's (8 bits/dim, 4347 nats; binary 1 bit/dim, 543 nats).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

from common import CIFAR10_SAMPLE, REPO, run_with_results

USR_MODULE = '''
from imgtf.problems.image_folder import ImageFolderProblem
from imgtf.registry import register_problem


@register_problem
class Gray28(ImageFolderProblem):
    """28x28 grayscale images with labels."""
    image_size = 28
    channels = 1
    labels = True


@register_problem
class Binary28(Gray28):
    """The same images binarised once, stochastically (1 with probability intensity / 255)."""
    num_levels = 2
    binarization = "stochastic"


@register_problem
class Gray28Sr(Gray28):
    input_size = 7


@register_problem
class Binary28Sr(Binary28):
    input_size = 7
'''

MODELS = {  # model: hparams set (the tiny CPU sets; the problem's shape replaces CIFAR's)
    "image_transformer": "imagetransformer_cifar10_tiny",
    "img2img_transformer": "img2img_transformer_celeba_1d_tiny",
    "pixelcnn": "pixelcnn_cifar10_tiny",
    "row_lstm": "row_lstm_cifar10_tiny",
    "diagonal_bilstm": "diagonal_bilstm_cifar10_tiny",
    "multiscale_pixelrnn": "multiscale_pixelrnn_cifar10_tiny",
}
KINDS = ("gray", "binary")
EXPORT_IMAGES = 64


def run(args, env):
    started = time.time()
    proc = subprocess.run(args, capture_output=True, text=True, env=env)
    if proc.returncode:
        sys.exit(f"failed ({proc.returncode}): {' '.join(args)}\n{proc.stderr[-3000:]}")
    return time.time() - started


def gray_folder(source, root):
    """CIFAR-10 python batches as grayscale PNG class folders, root/{train,test}/<class>/NNNNN.png."""
    from PIL import Image

    from imgtf.data import cifar

    for split in ("train", "test"):
        data = cifar.read_split(source, split)
        for i, (image, label) in enumerate(zip(data.images, data.labels)):
            folder = os.path.join(root, split, f"class_{label}")
            os.makedirs(folder, exist_ok=True)
            Image.fromarray(image).convert("L").save(os.path.join(folder, f"{i:05d}.png"))
    return root


def last_eval(run_dir):
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        entries = [json.loads(line) for line in f if line.strip()]
    return [e for e in entries if "bits_per_dim" in e][-1]


def binarisation_floor(data_dir):
    """The least bits/dim any model of the stochastically binarised test images can reach: each pixel is 1 with
    probability p = gray / 255 given the gray image, so H(binary image) >= H(binary | gray) = mean binary entropy of
    p (in bits per sub-pixel). Natural photographs have many mid-gray pixels (binarized MNIST almost none), so this
    floor is far above 0."""
    from imgtf import registry

    problem = registry.problem("gray28")
    total, count = 0.0, 0
    for batch in problem.dataset("test", data_dir, 256):
        p = np.clip(batch["targets"].numpy().astype(np.float64) / 255.0, 1e-12, 1 - 1e-12)
        total += float(np.sum(-(p * np.log2(p) + (1 - p) * np.log2(1 - p))))
        count += p.size
    return total / count


def check_export(export_dir, problem, data_dir, uses_inputs, count):
    """The SavedModel's bits/dim over the first `count` test images, causality of log_prob, determinism of
    sample, refusals."""
    import tensorflow as tf

    model = tf.saved_model.load(os.path.join(export_dir, "saved_model"))
    batch = next(iter(problem.dataset("test", data_dir, count)))
    cond = {"inputs": batch["inputs"]} if uses_inputs else {}
    images = batch["targets"]
    bpd = float(np.mean(model.signatures["bits_per_dim"](images=images, **cond)["bits_per_dim"].numpy()))
    # causality: flip (binary) or shift (8-bit) the sub-pixel of pixel (14, 9) in the first two images
    levels = problem.num_levels
    two = images[:2].numpy()
    changed = two.copy()
    changed[:, 14, 9, 0] = (changed[:, 14, 9, 0].astype(int) + levels // 2) % levels
    two_cond = {k: v[:2] for k, v in cond.items()}
    base = model.signatures["log_prob"](images=tf.constant(two), **two_cond)["log_prob"].numpy().reshape(2, -1)
    after = model.signatures["log_prob"](images=tf.constant(changed), **two_cond)["log_prob"].numpy().reshape(2, -1)
    t = 14 * 28 + 9
    diff = np.abs(after - base).max(axis=0)
    causal = bool(diff[:t].max() <= 1e-5 and diff[t:].max() > 1e-4)
    args = dict(num_samples=tf.constant(2), temperature=tf.constant(1.0), seed=tf.constant(5), **two_cond)
    first, again = (model.signatures["sample"](**args)["images"].numpy() for _ in range(2))
    deterministic = bool(np.array_equal(first, again) and first.shape == (2, 28, 28, 1) and first.max() < levels)
    refused = []
    wrong = [tf.zeros([1, 28, 28, 3], tf.uint8), tf.zeros([1, 28, 27, 1], tf.uint8)]
    if levels == 2:
        wrong.append(tf.fill([1, 28, 28, 1], tf.constant(255, tf.uint8)))
    for image in wrong:
        try:
            model.signatures["bits_per_dim"](images=image, **{k: v[:1] for k, v in cond.items()})
            refused.append(False)
        except (tf.errors.InvalidArgumentError, ValueError, TypeError):
            refused.append(True)
    return {"export_bits_per_dim": bpd, "export_causal": causal, "export_sample_deterministic": deterministic,
            "export_refuses_wrong_images": all(refused)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--data_dir", default=CIFAR10_SAMPLE)
    parser.add_argument("--keep", default=None, help="Keep runs, samples and exports in this folder.")
    args = parser.parse_args()
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    work = args.keep or tempfile.mkdtemp(prefix="imgtf_user_images_")
    os.makedirs(work, exist_ok=True)
    usr_dir = os.path.join(work, "usr")
    os.makedirs(usr_dir, exist_ok=True)
    with open(os.path.join(usr_dir, "digits.py"), "w") as f:
        f.write(USR_MODULE)
    data_dir = os.path.join(work, "images")
    if not os.path.isdir(data_dir):
        gray_folder(args.data_dir, data_dir)
    from imgtf import registry

    registry.import_usr_dir(usr_dir)
    floor = binarisation_floor(data_dir) if "binary" in args.kinds else None
    if floor is not None:
        print(f"binary test images: no model can go below {floor:.4f} bits/dim (H(binary | gray)); uniform: 1",
              flush=True)
    rows = []
    for model in args.models.split(","):
        for kind in args.kinds.split(","):
            sr = model == "img2img_transformer"
            problem_name = {"gray": "gray28", "binary": "binary28"}[kind] + ("sr" if sr else "")
            problem = registry.problem(problem_name)
            run_dir = os.path.join(work, f"{model}_{kind}")
            shutil.rmtree(run_dir, ignore_errors=True)
            python = [sys.executable, "-m"]
            seconds = run(python + ["imgtf.commands.trainer", f"--usr_dir={usr_dir}", f"--problem={problem_name}",
                                    f"--model={model}", f"--hparams_set={MODELS[model]}", f"--data_dir={data_dir}",
                                    f"--output_dir={run_dir}", f"--train_steps={args.steps}",
                                    f"--checkpoint_every_steps={args.steps}"], env)
            whole = last_eval(run_dir)
            # imgtf's evaluation of the images the export is checked on (the first EXPORT_IMAGES of the test split)
            with open(os.path.join(run_dir, "hparams.json")) as f:
                hp = json.load(f)["hparams"]
            eval_batch = hp.get("eval_batch_size") or 4 * hp["batch_size"]  # the trainer's evaluation batch
            run(python + ["imgtf.commands.trainer", f"--output_dir={run_dir}", f"--data_dir={data_dir}",
                          "--schedule=eval", f"--eval_steps={max(1, EXPORT_IMAGES // eval_batch)}"], env)
            first = last_eval(run_dir)
            decode_dir = os.path.join(run_dir, "decode")
            run(python + ["imgtf.commands.decoder", f"--output_dir={run_dir}", f"--decode_dir={decode_dir}",
                          f"--data_dir={data_dir}", "--num_samples=8"], env)
            export_dir = os.path.join(run_dir, "export")
            run(python + ["imgtf.commands.exporter", f"--output_dir={run_dir}", f"--export_dir={export_dir}"], env)
            row = {"model": model, "kind": kind, "problem": problem_name, "steps": args.steps,
                   "train_seconds": round(seconds, 1),
                   "test_bits_per_dim": round(whole["bits_per_dim"], 4),
                   "test_nats_per_image": round(whole["nats_per_image"], 1),
                   "uniform_bits_per_dim": float(np.log2(problem.num_levels)),
                   "first64_eval_bits_per_dim": first["bits_per_dim"],
                   "png": os.path.exists(os.path.join(decode_dir, "samples.png"))}
            row.update(check_export(export_dir, problem, data_dir, sr, first["num_images"]))
            row["export_equals_eval"] = abs(row["export_bits_per_dim"] - first["bits_per_dim"]) <= 1e-4 * first[
                "bits_per_dim"]
            rows.append(row)
            print(json.dumps(row), flush=True)
    print("\n| model | images | test bits/dim (uniform) | nats/image | export = eval | causal | sample repeats | "
          "refuses wrong images | PNG |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['kind']} | {r['test_bits_per_dim']:.3f} ({r['uniform_bits_per_dim']:.0f}) | "
              f"{r['test_nats_per_image']:.1f} | {r['export_equals_eval']} | {r['export_causal']} | "
              f"{r['export_sample_deterministic']} | {r['export_refuses_wrong_images']} | {r['png']} |")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    run_with_results("user_images", main)
