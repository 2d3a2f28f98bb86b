"""The presets shipped with imgtf, trained and packaged by one command anyone can rerun: each preset's hparams set
trained by bench/mnist.py for its wall-clock budget on the MNIST training digits in ../shared/data/mnist (the last
1,000 held out, dynamic binarization, both cores), then saved with imgtf.save_preset (model card: the held-out
figure with its 95% interval, the training time, the machine, this command) into imgtf/presets/builtin/.

    python bench/presets.py                                    # train and package every preset (hours)
    python bench/presets.py --presets=pixelcnn_binarized_mnist
    python bench/presets.py --package_only                     # package runs already kept in --keep_dir

The training curve (held-out nats against training minutes) goes to docs/results/preset_<preset>.md/.json, the
curve and the samples to docs/images/preset_<preset>_{curve,samples}.png; the run itself stays in --keep_dir
(bench/results/presets, gitignored)."""
import argparse
import json
import os
import shutil
import subprocess
import sys

from common import REPO, SHARED_DATA

# preset name: (hparams set, training minutes, published figures to compare with)
PRESETS = {
    "pixelcnn_binarized_mnist": (
        "pixelcnn_binarized_mnist_2h", 120,
        "PixelCNN 81.30 nats (PixelRNN paper, Table 4: fixed binarization, 50,000 training digits); 81.45 nats "
        "(pytorch-generative's PixelCNN, the same network as this one: dynamic binarization, 60,000 digits, 457 "
        "epochs on a GPU)."),
    "diagonal_bilstm_binarized_mnist": (
        "diagonal_bilstm_binarized_mnist_1h", 60,
        "Diagonal BiLSTM 79.20 nats (PixelRNN paper, Table 4: 7 layers of h=16, the same network as this one; fixed "
        "binarization, 50,000 training digits, trained to convergence)."),
}
KEEP_DIR = os.path.join(REPO, "bench", "results", "presets")
BUILTIN_DIR = os.path.join(REPO, "imgtf", "presets", "builtin")
RESULTS_DIR = os.path.join(REPO, "docs", "results")
IMAGES_DIR = os.path.join(REPO, "docs", "images")
LICENCE = ("MNIST (Yann LeCun, Corinna Cortes and Christopher J.C. Burges): Creative Commons Attribution-Share Alike "
           "3.0, as tensorflow-datasets states it")


def train(preset, args):
    hparams_set, minutes, _ = PRESETS[preset]
    command = [sys.executable, os.path.join(REPO, "bench", "mnist.py"), f"--sets={hparams_set}",
               "--binarization=dynamic", f"--budget_minutes={minutes}", f"--points={args.points}",
               f"--mnist_dir={args.mnist_dir}", f"--keep_dir={args.keep_dir}", f"--out_dir={out_dir(preset, args)}",
               f"--out={os.path.join(args.keep_dir, 'report_' + preset)}"]
    subprocess.run(command, check=True, cwd=REPO)


def out_dir(preset, args):
    """Where bench/mnist.py writes the preset's results.json, curve and samples (its runs and data go to keep_dir)."""
    return os.path.join(args.keep_dir, f"out_{preset}")


def package(preset, args):
    """Save the kept run of `preset` as a built-in preset; returns the index written."""
    import imgtf

    hparams_set, minutes, published = PRESETS[preset]
    run = os.path.join(args.keep_dir, hparams_set)
    with open(os.path.join(out_dir(preset, args), "results.json")) as f:
        results = {r["set"]: r for r in json.load(f)["results"]}[hparams_set]
    last = results["curve"][-1]
    data = (f"The first {int(round(last['step'] * results['batch'] / last['epochs'])):,} of the real MNIST training "
            f"digits in ../shared/data/mnist (a partial copy of the official 60,000 in their IDX files); the "
            f"{results['eval_digits']:,} digits after them held out and never trained on (the figure above is on "
            "them). Dynamic binarization: each training digit drawn afresh every epoch (a pixel is 1 with "
            "probability intensity/255), the held-out digits drawn once (problem image_mnist, "
            "--problem_options=binarization=dynamic).")
    card = {"command": f"python bench/presets.py --presets={preset}", "data": data, "licence": LICENCE,
            "train_minutes": last["minutes"], "published": published, "load_as": preset,
            "machine": f"{os.cpu_count()} CPU cores ({cpu_name()}), no accelerator"}
    ran = json.load(open(os.path.join(out_dir(preset, args), "results.json")))["args"]
    card["command"] += (f" (which trains with: python bench/mnist.py --sets={ran['sets']} --binarization="
                        f"{ran['binarization']} --budget_minutes={ran['budget_minutes']:g} --points={ran['points']} "
                        f"--seed={ran['seed']} --keep_dir=KEEP_DIR)")
    target = os.path.join(args.builtin_dir, preset)
    index = imgtf.save_preset(run, target, name=preset, card=card)
    # the docs show the samples and the curve as written, and the curve's table as a results file
    shutil.copy(os.path.join(target, "samples.png"), os.path.join(IMAGES_DIR, f"preset_{preset}_samples.png"))
    shutil.copy(os.path.join(out_dir(preset, args), "mnist_curves.png"), os.path.join(IMAGES_DIR, f"preset_{preset}_curve.png"))
    for ext in ("md", "json"):
        report = os.path.join(args.keep_dir, f"report_{preset}", f"mnist.{ext}")
        if os.path.exists(report):
            shutil.copy(report, os.path.join(RESULTS_DIR, f"preset_{preset}.{ext}"))
    return index, results


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return "unknown CPU"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default=",".join(PRESETS), help="comma-separated preset names")
    parser.add_argument("--package_only", action="store_true", help="package the runs kept in --keep_dir")
    parser.add_argument("--points", type=int, default=12, help="held-out evaluations during training")
    parser.add_argument("--mnist_dir", default=os.path.join(SHARED_DATA, "mnist"))
    parser.add_argument("--keep_dir", default=KEEP_DIR)
    parser.add_argument("--builtin_dir", default=BUILTIN_DIR)
    args = parser.parse_args()
    for preset in [p for p in args.presets.split(",") if p]:
        if preset not in PRESETS:
            parser.error(f"no preset {preset!r}; the presets: {', '.join(PRESETS)}")
        if not args.package_only:
            train(preset, args)
        index, results = package(preset, args)
        evaluation = index["evaluation"]
        curve = ", ".join(f"{p['minutes']:.0f}: {p['nats']:.2f}" for p in results["curve"])
        print(f"{preset}: {evaluation['nats_per_image']:.2f} nats per held-out digit (95% interval "
              f"{evaluation['nats_per_image_ci95_low']:.2f}-{evaluation['nats_per_image_ci95_high']:.2f}, "
              f"{evaluation['num_images']:,} digits) after {results['curve'][-1]['minutes']:.1f} training minutes, "
              f"step {index['step']:,}; curve (minutes: nats) {curve}; published: {PRESETS[preset][2]}")


if __name__ == "__main__":
    sys.path.insert(0, REPO)
    main()
