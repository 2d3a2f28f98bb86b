"""Shared fixtures: real data shipped inside the repository (examples/data, tests/data) and tiny configurations.

Nothing here reads outside the clone: a user's checkout has nothing beside it."""
import gc
import os
import sys
import tempfile
import time

import pytest

# pytest-xdist runs one worker per core: one TensorFlow thread per op each (with a pool of two per worker, the two
# workers' threads contend for the two cores: the suite measured 9% slower). Set before TensorFlow is imported; the
# processes a test starts inherit it.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
# XLA's LLVM backend without its optimisation passes, and its CPU kernels emitted by the elemental emitter rather than
# the fusion emitters: the same HLO and fusions are compiled (what the tests about XLA check: that it compiles, and
# computes what the plain graph computes) in about half the time (PixelCNN++'s loss and gradients 6.7 s as shipped,
# 5.2 s at level 0, 4.0 s with both; the Multi-Scale PixelRNN's 4.4 -> 2.4 s from level 0). The benchmarks compile as
# shipped. A value the user set is kept.
os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0 --xla_cpu_use_fusion_emitters=false")

# What the user imported with --usr_dir is remembered in a per-user file (imgtf.trusted_code): the tests' own, never
# the user's, in this process and those it starts.
os.environ["IMGTF_HOME"] = tempfile.mkdtemp(prefix="imgtf-home-")

import imgtf  # noqa: E402,F401  (sets TF environment defaults before TensorFlow is imported)
from imgtf.evaluation.evaluator import Evaluator  # noqa: E402
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

# Graphs run without Grappler's rewrites in the test processes (fusions, constant folding, layout: the graph's own
# ops run as traced), which spares the rewriting at each graph's first call: the suite measured 7% less worker time.
# The processes a test starts, and the benchmarks, run graphs as shipped.
tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
# TensorFlow records the Python stack that created each graph op (40 to 139 frames under pytest, measured) for the
# "defined at" lines of its runtime errors, and carries it into every function it builds from the graph. The tests
# check imgtf's behaviour, not TensorFlow's error messages: here every op gets one shared stack, whose frame's name says
# so. Measured on 2 cores, run in turns: the whole suite 532 s recording them, 475 s not; the harness and trainer tests
# of three sets 120 and 125 s against 89 and 97 s. IMGTF_TEST_OP_STACKS=1 records them (to read where an op that failed
# in a test was made). The processes a test starts, and the benchmarks, record them as shipped.
if not os.environ.get("IMGTF_TEST_OP_STACKS"):
    from tensorflow.python.util import tf_stack

    def _op_stacks_are_not_recorded_in_tests_set_IMGTF_TEST_OP_STACKS_1_to_record_them():
        frame, frames = sys._getframe(), []
        while frame is not None:
            frames.append((frame, frame.f_code))
            frame = frame.f_back
        return tf_stack.extract_stack(), frames

    # A real stack (this import's): an empty one shared by every op crashed the interpreter in test_trainer.py. Its
    # frames and their code are kept for the whole process: the import's own are freed when the import ends, and XLA
    # then crashed (segfault) in a plain script that imports this file and samples PixelCNN++ with XLA, which runs
    # once they are kept. The same script building its model with helpers.models (float64) still crashes, for a
    # reason not found; under pytest neither crash was seen.
    _ONE_STACK, _ITS_FRAMES = _op_stacks_are_not_recorded_in_tests_set_IMGTF_TEST_OP_STACKS_1_to_record_them()
    tf_stack.extract_stack = lambda stacklevel=1: _ONE_STACK

# The garbage collector leaves the objects of the modules imported so far alone (gc.freeze: TensorFlow's and Keras's)
# and runs its youngest generation every 50,000 allocations rather than 700. Keras and TensorFlow do not
# rewrite the tracebacks of errors raised through their calls (a failing test shows the whole traceback). Measured on
# tests/models/test_pixel_rnn.py in one process, 3 runs in turns: 0.972x the CPU time (every run below 0.98x).
gc.freeze()
gc.set_threshold(50_000, 50, 100)
keras.config.disable_traceback_filtering()
tf.debugging.disable_traceback_filtering()

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEST_DATA = os.path.join(REPO, "tests", "data")  # real fixtures cut from the benchmarks (tests/data/README.md)
CIFAR_DIR = os.path.join(REPO, "examples", "data", "cifar10")  # the quickstart's real CIFAR-10 sample
CELEBA_DIR = os.path.join(TEST_DATA, "celeba")
MNIST_DIR = os.path.join(TEST_DATA, "mnist")  # real MNIST digits as IDX (.gz) and binarized .amat files
ZEBRA = os.path.join(TEST_DATA, "imagenet32", "zebra_32x32_first256.npy")

# A model small enough for unit tests on 32x32x3 (3072 positions) yet with several query blocks.
TINY_OVERRIDES = ("hidden_size=16,filter_size=32,num_heads=2,num_decoder_layers=1,"
                  "query_block_length=64,memory_length=128,batch_size=4,eval_batch_size=4,learning_rate_warmup_steps=10")


def pytest_addoption(parser):
    parser.addini("suite_budget_s", "the whole suite's wall-clock budget in seconds (bench/test_suite.py measures it)",
                  default="240")


_SUITE_START = time.time()
SLOW_TEST_S = 10  # a test above this is listed at the end of every run: tests/README.md says how to make it cheaper


def pytest_terminal_summary(terminalreporter, config):
    """The suite's cost on every run: its wall-clock against the budget and the tests over SLOW_TEST_S (setup and call
    timed apart, as --durations does). A report, never a failure: bench/test_suite.py is the measure."""
    if hasattr(config, "workerinput"):
        return
    budget = float(config.getini("suite_budget_s"))
    elapsed = time.time() - _SUITE_START
    slow = sorted(((report.duration, report.when, report.nodeid) for reports in terminalreporter.stats.values()
                   for report in reports if getattr(report, "when", None) in ("setup", "call")
                   and getattr(report, "duration", 0) > SLOW_TEST_S), reverse=True)
    write = terminalreporter.write_line
    terminalreporter.section("suite budget")
    verdict = "within" if elapsed <= budget else f"OVER by {elapsed - budget:.0f} s"
    write(f"wall-clock {elapsed:.0f} s against the budget of {budget:.0f} s ({budget / 60:g} min on a 2-core CPU "
          f"machine): {verdict}")
    if slow:
        write(f"tests over {SLOW_TEST_S} s (tests/README.md: what a test may cost, and how to make it cheaper):")
        for seconds, when, nodeid in slow:
            write(f"  {seconds:6.1f} s {when:5s} {nodeid}")


def _shipped(path, what):
    if not os.path.exists(path):
        pytest.fail(f"{what} not found at {path}: it ships with the repository; is the checkout complete?")
    return path


@pytest.fixture(scope="session")
def cifar_dir():
    """examples/data/cifar10: data_batch_1, data_batch_2 and test_batch, each its first 1,017 real images."""
    return os.path.dirname(_shipped(os.path.join(CIFAR_DIR, "cifar-10-batches-py"), "real CIFAR-10 sample"))


@pytest.fixture(scope="session")
def cifar_tarball(tmp_path_factory, cifar_dir):
    """A folder holding cifar-10-python.tar.gz packed from the shipped sample as the official archive is packed."""
    import tarfile

    root = tmp_path_factory.mktemp("cifar_tarball")
    with tarfile.open(root / "cifar-10-python.tar.gz", "w:gz", compresslevel=1) as tar:
        tar.add(os.path.join(cifar_dir, "cifar-10-batches-py"), arcname="cifar-10-batches-py")
    return str(root)


@pytest.fixture(scope="session")
def small_cifar_dir(tmp_path_factory, cifar_dir):
    """A partial CIFAR-10 copy in the official pickle format: the first 97 real images of data_batch_1 and
    of test_batch (97 = 24 batches of 4 and one of 1). For tests that read whole splits, where the property does
    not depend on the split's size."""
    import pickle

    from imgtf.data.safe_pickle import restricted_loads

    folder = tmp_path_factory.mktemp("small_cifar") / "cifar-10-batches-py"
    folder.mkdir()
    for name in ("data_batch_1", "test_batch"):
        with open(os.path.join(cifar_dir, "cifar-10-batches-py", name), "rb") as f:
            batch = restricted_loads(f.read(), encoding="bytes")
        cut = {k: (v[:SMALL_CIFAR_IMAGES] if k in (b"data", b"labels", b"filenames") else v) for k, v in batch.items()}
        (folder / name).write_bytes(pickle.dumps(cut, protocol=2))
    return str(folder.parent)


SMALL_CIFAR_IMAGES = 97


@pytest.fixture(scope="session")
def builtins():
    from imgtf import catalog, registry

    catalog.load_builtins()
    return registry


@pytest.fixture
def tiny_hparams(builtins):
    hp = builtins.hparams("imagetransformer_cifar10_tiny")
    hp.parse(TINY_OVERRIDES)
    return hp


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
    """256 real ImageNet photographs at 32x32 (tests/data/imagenet32), uint8 [256, 32, 32, 3]."""
    import numpy as np

    return np.load(_shipped(ZEBRA, "real ImageNet 32x32 fixture"))


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
def mnist_dir():
    """tests/data/mnist: 2,000 + 500 real digits in IDX (train / t10k), 100 / 50 / 50 binarized in .amat."""
    return os.path.dirname(_shipped(os.path.join(MNIST_DIR, "train-images-idx3-ubyte.gz"), "real MNIST fixture"))


@pytest.fixture(scope="session")
def celeba_dir():
    """40 real CelebA JPEGs and a trimmed list_eval_partition.txt (tests/data/README.md)."""
    return os.path.dirname(_shipped(os.path.join(CELEBA_DIR, "img_align_celeba"), "real CelebA fixture"))


def cifar_as_folder(root, cifar_dir, counts, by_class=False, mode=None):
    """Write the shipped CIFAR-10 sample as a user's image folder: root/<split>/[class<label>/]<index>.png for the
    first counts[split] images of each split (PIL `mode`, e.g. "L", converts them). Returns str(root)."""
    from PIL import Image

    from imgtf.data import cifar

    for split, count in counts.items():
        data = cifar.read_split(cifar_dir, split)
        for i, (image, label) in enumerate(zip(data.images[:count], data.labels[:count])):
            folder = root / split / (f"class{label}" if by_class else "")
            folder.mkdir(parents=True, exist_ok=True)
            picture = Image.fromarray(image)
            (picture.convert(mode) if mode else picture).save(folder / f"{i:04d}.png")
    return str(root)


@pytest.fixture(scope="session")
def cifar_folder(tmp_path_factory, cifar_dir):
    """The shipped CIFAR-10 sample as a user's image folder: 64 train and 16 test PNGs, one subfolder per class."""
    return cifar_as_folder(tmp_path_factory.mktemp("cifar_folder"), cifar_dir, {"train": 64, "test": 16},
                           by_class=True)


# Runs trained once per session and shared by every test and xdist worker (tests/helpers/shared.py): tiny Image
# Transformers of each conditioning, with checkpoints at every step and an evaluation of the first 8 test images.
# "cifar" is the built-in 32x32 problem (the README's Python block runs on it); the others are 8x8 image-folder runs
# (the sampler runs once per sub-pixel: 192 steps rather than 3072), super-resolution from 4x4.
SHARED_RUNS = {  # name: problem, its options, model, hparams set, extra overrides, steps
    "cifar": ("image_cifar10", "", "image_transformer", "imagetransformer_cifar10_tiny", "", 3),
    "plain": ("image_folder", "image_size=8", "image_transformer", "imagetransformer_cifar10_tiny", "", 2),
    "class": ("image_folder", "image_size=8,labels=true", "image_transformer", "imagetransformer_cifar10_cond_tiny",
              ",likelihood=dmol,num_mixtures=2", 2),
    "sr": ("image_folder", "image_size=8,input_size=4", "img2img_transformer", "img2img_transformer_celeba_2d_tiny",
           "", 2),
}
SHARED_RUN_OVERRIDES = TINY_OVERRIDES + ",query_shape=[4,8],memory_flange=[2,8]"


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, cifar_dir, cifar_folder, builtins):
    """trained_run(name) -> (the path of a shared trained run, its data_dir); read it, or copy it with
    helpers.shared.copy to write."""
    from helpers import shared

    def make(name):
        problem, options, model, hparams_set, extra, steps = SHARED_RUNS[name]
        data_dir = cifar_folder if problem == "image_folder" else cifar_dir

        def train(path):
            from imgtf.train import run_dir
            from imgtf.train.trainer import Trainer

            spec = run_dir.resolve(str(path), problem, model, hparams_set, SHARED_RUN_OVERRIDES + extra,
                                   problem_options=options)
            trainer = Trainer(spec, str(path), data_dir)
            run_dir.save(spec, str(path))  # after the Trainer has recorded the data's info (classes), as imgtf-trainer
            trainer.train(steps, checkpoint_every=1)
            Evaluator.of(trainer).evaluate("test", eval_steps=2)  # batch 4: the first 8 test images, in metrics.jsonl

        return str(shared.directory(tmp_path_factory, f"run_{name}", train)), data_dir

    return make
