"""Input pipeline throughput of every problem, raw files vs prepared arrays, against what training consumes.

    python bench/input_pipeline.py              # all problems; tiny and base training rates measured here
    python bench/input_pipeline.py --skip_base  # skip the (slow) base-model step measurement

Reads the real subsets in ../shared/data (the ImageNet problems from valid/train tars built from the real
zebra photographs, as the tests do). Each pipeline is the one training uses (shuffle, repeat, parallel
decode, batch 8, prefetch); images/s is measured after a warm-up batch. The training rates are measured
in the same process with the same Trainer the command uses.
"""
import argparse
import io
import os
import tarfile
import tempfile
import time

from common import SHARED_DATA, run_with_results



def imagenet_fixture(root):
    import numpy as np
    from PIL import Image

    zebra = np.load(os.path.join(SHARED_DATA, "imagenet32", "zebra_32x32.npy"))
    for size in (32, 64):
        with tarfile.open(os.path.join(root, f"train_{size}x{size}.tar"), "w") as tar:
            for i, image in enumerate(zebra):
                if size == 64:
                    image = np.repeat(np.repeat(image, 2, axis=0), 2, axis=1)
                buffer = io.BytesIO()
                Image.fromarray(image).save(buffer, format="PNG")
                info = tarfile.TarInfo(f"train_{size}x{size}/{i:08d}.png")
                info.size = buffer.tell()
                buffer.seek(0)
                tar.addfile(info, buffer)
    return root


def pipeline_rate(problem, data_dir, images=2000, batch=8):
    ds = problem.dataset("train", data_dir, batch, shuffle=True, repeat=True, seed=0, drop_remainder=True)
    iterator = iter(ds)
    next(iterator)
    start, seen = time.time(), 0
    while seen < images:
        seen += int(next(iterator)["targets"].shape[0])
    return seen / (time.time() - start)


def training_rate(hparams_set, data_dir, steps):
    from imgtf.train import run_dir
    from imgtf.train.trainer import Trainer

    with tempfile.TemporaryDirectory() as out:
        spec = run_dir.resolve(out, "image_cifar10", "image_transformer", hparams_set, "batch_size=8")
        trainer = Trainer(spec, out, data_dir)
        stamps = []
        trainer.train(steps + 1, checkpoint_every=10**9, log_every=10**9, on_step=lambda s, l: stamps.append(time.time()))
        return steps * trainer.global_batch_size / (stamps[-1] - stamps[0])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip_base", action="store_true")
    parser.add_argument("--images", type=int, default=2000, help="images timed per pipeline")
    args = parser.parse_args()
    import logging

    import imgtf  # noqa: F401
    from imgtf import catalog, registry
    from imgtf.data import prepared

    logging.getLogger("imgtf").setLevel(logging.ERROR)
    catalog.load_builtins()
    cifar = os.path.join(SHARED_DATA, "cifar10")
    tiny = training_rate("imagetransformer_cifar10_tiny", cifar, 10)
    base = None if args.skip_base else training_rate("imagetransformer_cifar10_base", cifar, 2)
    print(f"training consumes (batch 8): tiny {tiny:.2f} images/s" + ("" if base is None else f", base {base:.3f} images/s"))
    with tempfile.TemporaryDirectory() as raw_imagenet, tempfile.TemporaryDirectory() as ready:
        imagenet_fixture(raw_imagenet)
        sources = {"image_cifar10": cifar, "img2img_cifar10": cifar, "image_imagenet32": raw_imagenet,
                   "image_imagenet64": raw_imagenet, "img2img_celeba": os.path.join(SHARED_DATA, "celeba"),
                   "image_celeba32": os.path.join(SHARED_DATA, "celeba")}
        print(f"{'problem':<18} {'raw images/s':>13} {'prepared images/s':>18} {'prepared/tiny':>14}"
              f"{'' if base is None else ' prepared/base':>15}")
        for name, data_dir in sources.items():
            problem = registry.problem(name)
            raw = pipeline_rate(problem, data_dir, args.images)
            prepared.write(problem, "train", data_dir, ready)
            fast = pipeline_rate(problem, ready, args.images)
            line = f"{name:<18} {raw:>13.0f} {fast:>18.0f} {fast / tiny:>13.0f}x"
            if base is not None:
                line += f" {fast / base:>13.0f}x"
            print(line, flush=True)


if __name__ == "__main__":
    run_with_results("input_pipeline", main)
