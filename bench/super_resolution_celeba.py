"""Does super-resolution follow its input on faces it never saw? Both `img2img_transformer_celeba_*_tiny` sets
trained on the real CelebA subset through `imgtf-trainer`, then `imgtf-decoder --input_images` on held-out faces.

    python bench/super_resolution_celeba.py                  # 300 steps per set, 16 held-out faces (~15 minutes)
    python bench/super_resolution_celeba.py --steps=100 --held_out=8

Data: ../shared/data/celeba (400 aligned faces). The last --held_out faces are never trained on: in a copy of the
folder (symlinks), the partition file makes them the validation split. Each set trains --steps steps on
`img2img_celeba` (8x8 -> 32x32) and, as the reference, the unconditional `imagetransformer_cifar10_tiny` trains the same steps on the same 32x32
faces (`image_celeba32`). Figures, printed as a table:
- bits/dim of each run on the held-out faces (`imgtf-trainer --schedule=eval`): a super-resolution model
  that uses its input must be clearly below the unconditional one;
- consistency (paper 5.3): mean squared difference, on [0, 1], between the bicubic 8x8 downsample of a sample and
  its input, over one sample per held-out face at temperature 1.0. Uniform noise scores about 0.1; following the input, a few
  thousandths.
Grids: bench/results/super_resolution_celeba/<set>.png, one row per face: 8x8 input | sample | original face.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

from common import REPO, SHARED_DATA, run_with_results

SETS = ["img2img_transformer_celeba_1d_tiny", "img2img_transformer_celeba_2d_tiny"]
UNCONDITIONAL = "imagetransformer_cifar10_tiny"
RESULTS = os.path.join(REPO, "bench", "results", "super_resolution_celeba")


def run(args):
    print("$ " + " ".join(args), flush=True)
    proc = subprocess.run(args, capture_output=True, text=True, cwd=REPO)
    if proc.returncode:
        sys.exit(f"failed ({proc.returncode}): {' '.join(args)}\n{proc.stderr[-3000:]}")
    return proc


def held_out_copy(source, held_out, workdir):
    """A CelebA folder (symlinks) whose official-format partition file puts the last `held_out` faces in the
    validation split (every face of the shared subset is officially a training face), and those faces' files."""
    images = sorted(os.listdir(os.path.join(source, "img_align_celeba")))
    copy = os.path.join(workdir, "celeba")
    os.makedirs(os.path.join(copy, "img_align_celeba"))
    lines = []
    for i, name in enumerate(images):
        os.symlink(os.path.join(source, "img_align_celeba", name), os.path.join(copy, "img_align_celeba", name))
        lines.append(f"{name} {1 if i >= len(images) - held_out else 0}\r\n")
    with open(os.path.join(copy, "list_eval_partition.txt"), "w", newline="") as f:
        f.writelines(lines)
    return copy, [os.path.join(source, "img_align_celeba", name) for name in images[-held_out:]]


def evaluate(run_dir, data_dir):
    """bits/dim of the run's latest checkpoint on its problem's evaluation split, read from metrics.jsonl."""
    run([sys.executable, "-m", "imgtf.commands.trainer", f"--output_dir={run_dir}", f"--data_dir={data_dir}",
         "--schedule=eval"])
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        evals = [json.loads(line) for line in f if '"bits_per_dim"' in line]
    return evals[-1]["bits_per_dim"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--held_out", type=int, default=16)
    parser.add_argument("--data_dir", default=os.path.join(SHARED_DATA, "celeba"))
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not os.path.isdir(os.path.join(args.data_dir, "img_align_celeba")):
        sys.exit(f"no CelebA images in {args.data_dir}/img_align_celeba: pass --data_dir.")
    from imgtf.data.images import load_user_images
    from imgtf.data import grids

    os.makedirs(RESULTS, exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory() as work:
        data_dir, unseen = held_out_copy(args.data_dir, args.held_out, work)
        print(f"{len(unseen)} of the faces held out (the validation split); {args.steps} steps per run, "
              f"seed {args.seed}", flush=True)
        runs = [(UNCONDITIONAL, "image_transformer", "image_celeba32")]
        runs += [(name, "img2img_transformer", "img2img_celeba") for name in args.sets.split(",") if name]
        for set_name, model, problem in runs:
            run_dir = os.path.join(work, set_name)
            run([sys.executable, "-m", "imgtf.commands.trainer", f"--problem={problem}", f"--model={model}",
                 f"--hparams_set={set_name}", f"--data_dir={data_dir}", f"--output_dir={run_dir}",
                 f"--train_steps={args.steps}", "--schedule=train", f"--random_seed={args.seed}",
                 f"--checkpoint_every_steps={args.steps}"])
            row = {"set": set_name, "problem": problem, "bits_per_dim": evaluate(run_dir, data_dir)}
            if model == "img2img_transformer":
                decode_dir = os.path.join(work, set_name + "_decode")
                run([sys.executable, "-m", "imgtf.commands.decoder", f"--output_dir={run_dir}",
                     f"--decode_dir={decode_dir}", f"--input_images={','.join(unseen)}",
                     f"--batch_size={len(unseen)}", f"--seed={args.seed}"])
                with open(os.path.join(decode_dir, "decode.json")) as f:
                    row["consistency"] = json.load(f)["consistency"]
                samples = np.load(os.path.join(decode_dir, "samples.npy"))
                inputs = np.load(os.path.join(decode_dir, "inputs.npy")).astype(np.uint8)
                originals = load_user_images(unseen, samples.shape[-2])
                grid = os.path.join(RESULTS, f"{set_name}.png")
                grids.save_png(grids.comparison_grid(inputs, samples, originals), grid)
                row["grid"] = os.path.relpath(grid, REPO)
            rows.append(row)
            print(json.dumps(row), flush=True)
    base = rows[0]["bits_per_dim"]
    print(f"\n| hparams set | problem | bits/dim (evaluation split) | vs unconditional | consistency, {args.held_out} "
          "unseen faces |\n|---|---|---:|---:|---:|")
    for row in rows:
        consistency = f"{row['consistency']:.4f}" if "consistency" in row else ""
        print(f"| `{row['set']}` | {row['problem']} | {row['bits_per_dim']:.3f} | "
              f"{row['bits_per_dim'] - base:+.3f} | {consistency} |")
    with open(os.path.join(RESULTS, "results.json"), "w") as f:
        json.dump({"args": vars(args), "rows": rows}, f, indent=2)


if __name__ == "__main__":
    run_with_results("super_resolution_celeba", main)
