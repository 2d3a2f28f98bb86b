"""Shared fixtures: the real data in ../shared/data (or $IMGTF_SHARED_DATA) and tiny configurations."""
import os

import pytest

import imgtf  # noqa: F401  (sets TF environment defaults before TensorFlow is imported)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATA = os.environ.get("IMGTF_SHARED_DATA", os.path.join(REPO, "..", "shared", "data"))
CIFAR_DIR = os.path.join(SHARED_DATA, "cifar10")
QUICKSTART_CIFAR = os.path.join(REPO, "examples", "data", "cifar10")

# A model small enough for unit tests on 32x32x3 (3072 positions) yet with several query blocks.
TINY_OVERRIDES = ("hidden_size=16,filter_size=32,num_heads=2,num_decoder_layers=1,"
                  "query_block_length=64,memory_length=128,batch_size=4,learning_rate_warmup_steps=10")


@pytest.fixture(scope="session")
def cifar_dir():
    if not os.path.isdir(os.path.join(CIFAR_DIR, "cifar-10-batches-py")):
        pytest.fail(f"real CIFAR-10 subset not found at {CIFAR_DIR}; set IMGTF_SHARED_DATA to the shared data folder")
    return CIFAR_DIR


@pytest.fixture(scope="session")
def builtins():
    from imgtf import registry

    registry.load_builtins()
    return registry


@pytest.fixture
def tiny_hparams(builtins):
    hp = builtins.hparams("imagetransformer_cifar10_tiny")
    hp.parse(TINY_OVERRIDES)
    return hp

CELEBA_DIR = os.path.join(SHARED_DATA, "celeba")
ZEBRA = os.path.join(SHARED_DATA, "imagenet32", "zebra_32x32.npy")


def png_bytes(array):
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def write_tar(path, members):
    import io
    import tarfile

    with tarfile.open(path, "w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


@pytest.fixture(scope="session")
def zebra():
    import numpy as np

    if not os.path.exists(ZEBRA):
        pytest.fail(f"real ImageNet subset not found at {ZEBRA}")
    return np.load(ZEBRA)


@pytest.fixture(scope="session")
def imagenet_dir(tmp_path_factory, zebra):
    """Official downsampled-ImageNet formats made from real ImageNet pixels: valid_32x32.tar (PNG members),
    an extracted train_32x32/ folder, and 64x64 archives (the same photos, pixels repeated 2x2)."""
    import numpy as np

    root = tmp_path_factory.mktemp("imagenet")
    write_tar(root / "valid_32x32.tar", [(f"valid_32x32/{i:08d}.png", png_bytes(zebra[i])) for i in range(64)])
    (root / "train_32x32").mkdir()
    for i in range(64, 192):
        (root / "train_32x32" / f"{i:08d}.png").write_bytes(png_bytes(zebra[i]))
    big = np.repeat(np.repeat(zebra[:48], 2, axis=1), 2, axis=2)
    write_tar(root / "valid_64x64.tar", [(f"valid_64x64/{i:08d}.png", png_bytes(big[i])) for i in range(16)])
    write_tar(root / "train_64x64.tar", [(f"train_64x64/{i:08d}.png", png_bytes(big[i])) for i in range(16, 48)])
    return str(root)


@pytest.fixture(scope="session")
def celeba_dir():
    if not os.path.isdir(os.path.join(CELEBA_DIR, "img_align_celeba")):
        pytest.fail(f"real CelebA subset not found at {CELEBA_DIR}")
    return CELEBA_DIR
