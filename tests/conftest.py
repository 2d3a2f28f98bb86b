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
