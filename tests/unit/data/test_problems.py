"""Problems on real data in their official formats: ImageNet 32/64, CelebA, image folders, prepared shards."""
import json
import os
import shutil
import time
import zipfile

import numpy as np
import pytest
from PIL import Image

from conftest import png_bytes, write_tar
from imgtf.data import prepared, sources
from imgtf.errors import CorruptDataError, DataNotFoundError
from imgtf.data.errors import reraise_from_pipeline
from imgtf.evaluation.evaluator import Evaluator


def everything(problem, split, data_dir, batch=64):
    with reraise_from_pipeline():
        batches = list(problem.dataset(split, data_dir, batch))
    return {k: np.concatenate([b[k].numpy() for b in batches]) for k in batches[0]}


def area_matrix(n_in, n_out):
    """Exact area interpolation weights (fractional overlaps), independent of TensorFlow."""
    weights, scale = np.zeros((n_out, n_in)), n_in / n_out
    for i in range(n_out):
        lo, hi = i * scale, (i + 1) * scale
        for j in range(int(np.floor(lo)), int(np.ceil(hi))):
            weights[i, j] = max(0.0, min(hi, j + 1) - max(lo, j))
    return weights / scale


def area_reference(image, size):
    w_rows, w_cols = area_matrix(image.shape[0], size), area_matrix(image.shape[1], size)
    return np.einsum("ij,jkc,lk->ilc", w_rows, image.astype(np.float64), w_cols)


# -- ImageNet ------------------------------------------------------------------------------------------
def test_imagenet32_from_tar_and_folder_is_pixel_exact(builtins, imagenet_dir, zebra, caplog, monkeypatch):
    monkeypatch.setattr(sources, "_ANNOUNCED", set())  # partial copies are announced once per process
    problem = builtins.problem("image_imagenet32")
    valid = everything(problem, "validation", imagenet_dir)
    np.testing.assert_array_equal(valid["targets"], zebra[:64])  # streamed from the tar, in order
    assert set(valid) == {"targets"}  # no labels in downsampled ImageNet
    train = everything(problem, "train", imagenet_dir)
    np.testing.assert_array_equal(train["targets"], zebra[64:192])
    assert "PARTIAL copy: 64 of 49999" in caplog.text


def test_imagenet64(builtins, imagenet_dir, zebra):
    valid = everything(builtins.problem("image_imagenet64"), "validation", imagenet_dir)
    assert valid["targets"].shape == (16, 64, 64, 3)
    np.testing.assert_array_equal(valid["targets"][:, ::2, ::2], zebra[:16])


def test_imagenet_missing_fails_fast_with_instructions(builtins, tmp_path):
    start = time.time()
    with pytest.raises(DataNotFoundError, match=r"no valid_32x32.tar, no valid_32x32/.*Download valid_32x32.tar"):
        builtins.problem("image_imagenet32").dataset("validation", str(tmp_path), 8)
    assert time.time() - start < 30


def test_corrupt_png_in_tar_names_the_member(builtins, tmp_path, zebra):
    members = [(f"valid_32x32/{i:08d}.png", png_bytes(zebra[i])) for i in range(3)]
    members.insert(2, ("valid_32x32/broken.png", png_bytes(zebra[5])[:60]))
    write_tar(tmp_path / "valid_32x32.tar", members)
    with pytest.raises(CorruptDataError, match=r"valid_32x32.tar:valid_32x32/broken.png: cannot decode image"):
        everything(builtins.problem("image_imagenet32"), "validation", str(tmp_path))


def test_truncated_tar_names_the_archive(builtins, imagenet_dir, tmp_path):
    data = open(os.path.join(imagenet_dir, "valid_32x32.tar"), "rb").read()
    (tmp_path / "valid_32x32.tar").write_bytes(data[: len(data) // 2 + 100])
    with pytest.raises(CorruptDataError, match="valid_32x32.tar"):
        everything(builtins.problem("image_imagenet32"), "validation", str(tmp_path))


# -- CelebA --------------------------------------------------------------------------------------------
def test_celeba_crop_and_area_resize_match_exact_block_means(builtins, celeba_dir):
    problem = builtins.problem("img2img_celeba")
    batch = next(iter(problem.dataset("train", celeba_dir, 3)))
    assert batch["inputs"].shape == (3, 8, 8, 3) and batch["targets"].shape == (3, 32, 32, 3)
    assert batch["inputs"].dtype.name == "uint8" and batch["targets"].dtype.name == "uint8"
    for i, name in enumerate(["000001.jpg", "000002.jpg", "000003.jpg"]):
        original = np.asarray(Image.open(os.path.join(celeba_dir, "img_align_celeba", name)).convert("RGB"))
        assert original.shape == (218, 178, 3)
        face = original[40:178, 20:158]  # 40 off top and bottom, 20 off left and right
        assert np.abs(batch["targets"][i].numpy() - area_reference(face, 32)).max() <= 0.5 + 1e-3
        assert np.abs(batch["inputs"][i].numpy() - area_reference(face, 8)).max() <= 0.5 + 1e-3


def test_celeba_zip_equals_folder_and_partial_copy_is_announced(builtins, celeba_dir, tmp_path, caplog, monkeypatch):
    """tests/data/celeba lists 52 train, 14 validation and 14 test images; 32, 4 and 4 of them are present."""
    with zipfile.ZipFile(tmp_path / "img_align_celeba.zip", "w") as z:
        for name in sorted(os.listdir(os.path.join(celeba_dir, "img_align_celeba")))[:20]:
            z.write(os.path.join(celeba_dir, "img_align_celeba", name), f"img_align_celeba/{name}")
    shutil.copy(os.path.join(celeba_dir, "list_eval_partition.txt"), tmp_path)
    monkeypatch.setattr(sources, "_ANNOUNCED", set())  # partial copies are announced once per process
    problem = builtins.problem("image_celeba32")
    from_zip = everything(problem, "train", str(tmp_path))
    from_folder = everything(problem, "train", celeba_dir)
    assert from_zip["targets"].shape == (20, 32, 32, 3) and set(from_zip) == {"targets"}
    assert from_folder["targets"].shape == (32, 32, 32, 3)
    np.testing.assert_array_equal(from_zip["targets"], from_folder["targets"][:20])
    assert "PARTIAL copy: 20 of the 52 images listed" in caplog.text
    assert "PARTIAL copy: 32 of the 52" in caplog.text
    for split in ("validation", "test"):  # the present files listed for the split, in the list's order
        assert everything(problem, split, celeba_dir)["targets"].shape == (4, 32, 32, 3)
        assert f"CelebA {split} split at {os.path.join(celeba_dir, 'img_align_celeba')} is a PARTIAL copy: " \
               "4 of the 14" in caplog.text
    with pytest.raises(DataNotFoundError, match="none of the 14 images listed for it"):
        problem.dataset("validation", str(tmp_path), 4)


def test_celeba_missing_partition_file_is_named(builtins, celeba_dir, tmp_path):
    os.symlink(os.path.join(celeba_dir, "img_align_celeba"), tmp_path / "img_align_celeba")
    with pytest.raises(DataNotFoundError, match="list_eval_partition.txt is missing"):
        builtins.problem("img2img_celeba").dataset("train", str(tmp_path), 4)


# -- the user's own folders ----------------------------------------------------------------------------
@pytest.fixture
def photo_folder(tmp_path, celeba_dir, zebra):
    """Real photos of mixed sizes and formats in class subfolders: faces (JPEG 178x218) and zebras (PNG)."""
    faces = sorted(os.listdir(os.path.join(celeba_dir, "img_align_celeba")))
    for split, (lo, hi) in {"train": (0, 6), "test": (6, 8)}.items():
        (tmp_path / split / "faces").mkdir(parents=True)
        (tmp_path / split / "zebras").mkdir(parents=True)
        for i in range(lo, hi):
            shutil.copy(os.path.join(celeba_dir, "img_align_celeba", faces[i]), tmp_path / split / "faces")
            big = np.repeat(np.repeat(zebra[i], 3, axis=0), 2, axis=1)  # 96x64: not square
            (tmp_path / split / "zebras" / f"z{i}.png").write_bytes(png_bytes(big))
    return tmp_path


def test_image_folder_center_crops_area_resizes_and_labels(builtins, photo_folder):
    problem = builtins.problem("image_folder")
    problem.configure("image_size=16,input_size=4,labels=true")
    problem.bind(str(photo_folder))
    assert problem.classes == ["faces", "zebras"] and problem.info["num_classes"] == 2
    data = everything(problem, "train", str(photo_folder))
    assert data["targets"].shape == (12, 16, 16, 3) and data["inputs"].shape == (12, 4, 4, 3)
    assert list(data["label"]) == [0] * 6 + [1] * 6
    face = np.asarray(Image.open(sorted((photo_folder / "train" / "faces").iterdir())[0]).convert("RGB"))
    square = face[20:198]  # 218x178 -> centre 178x178
    assert np.abs(data["targets"][0] - area_reference(square, 16)).max() <= 0.5 + 1e-3
    assert np.abs(data["inputs"][0] - area_reference(square, 4)).max() <= 0.5 + 1e-3


def test_image_folder_corrupt_file_error_or_skip(builtins, photo_folder):
    (photo_folder / "train" / "faces" / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    problem = builtins.problem("image_folder")
    with pytest.raises(CorruptDataError, match=r"bad.jpg: cannot decode image"):
        everything(problem, "train", str(photo_folder))
    problem.configure("skip_corrupt=true")
    data = everything(problem, "train", str(photo_folder))
    assert len(data["targets"]) == 12 and problem.skipped.count == 1 and problem.skipped.names[0].endswith("bad.jpg")
    everything(problem, "train", str(photo_folder))  # a second pass (an epoch, an evaluation) ...
    assert problem.skipped.count == 1  # ... counts the same file once


def test_image_folder_class_layout_checked_before_training(builtins, photo_folder):
    (photo_folder / "test" / "cats").mkdir()  # a class only the test split has
    (photo_folder / "test" / "cats" / "c.png").write_bytes((photo_folder / "train" / "zebras" / "z0.png").read_bytes())
    problem = builtins.problem("image_folder")
    problem.configure("labels=true")
    with pytest.raises(DataNotFoundError, match=r"class folders \['cats'\] are not among the training classes"):
        problem.bind(str(photo_folder))  # what the Trainer does before it builds the model
    (photo_folder / "train" / "cats").mkdir()  # ... now an empty training class
    problem = builtins.problem("image_folder")
    problem.configure("labels=true")
    with pytest.raises(DataNotFoundError, match=r"class folders \['cats'\] hold no .png/.jpg/.jpeg files"):
        problem.bind(str(photo_folder))


def test_image_folder_layout_errors(builtins, tmp_path):
    from imgtf.hparams.hparams import HParamsError

    problem = builtins.problem("image_folder")
    with pytest.raises(DataNotFoundError, match="reads images from DATA_DIR/train/"):
        problem.dataset("train", str(tmp_path), 4)
    with pytest.raises(HParamsError, match="unknown problem option 'imagesize'"):
        problem.configure("imagesize=3")
    with pytest.raises(HParamsError, match="malformed --problem_options entry 'labels': expected key=value"):
        problem.configure("labels")
    with pytest.raises(HParamsError, match="inputs of 64x64 are larger than the targets of 32x32"):
        builtins.problem("image_folder").configure("image_size=32,input_size=64")  # was an OOM after minutes
    with pytest.raises(ValueError, match="batch_size must be a whole number >= 1"):
        builtins.problem("image_cifar10").dataset("test", str(tmp_path), 0)
    with pytest.raises(HParamsError, match="takes no --problem_options"):
        builtins.problem("image_cifar10").configure("image_size=3")


# -- prepared shards -------------------------------------------------------------------------------------
def test_prepared_shards_equal_raw_pipeline_and_are_used(builtins, cifar_dir, tmp_path):
    problem = builtins.problem("img2img_cifar10")
    meta = prepared.write(problem, "test", cifar_dir, str(tmp_path))
    assert meta["count"] == 1017 and meta["shapes"]["inputs"] == [8, 8, 3]
    raw = everything(problem, "test", cifar_dir)
    ready = everything(problem, "test", str(tmp_path))  # reads the shards: no CIFAR files there
    for key in ("targets", "inputs", "label"):
        np.testing.assert_array_equal(raw[key], ready[key])
    path = prepared.metadata_path(str(tmp_path), problem.name, "test")
    meta = json.load(open(path))
    edited = json.loads(json.dumps(meta))
    edited["features"]["targets"]["shape"] = [16, 64, 3]  # the same bytes per image, another layout
    json.dump(edited, open(path, "w"))
    with pytest.raises(CorruptDataError, match=r"prepared targets have shape \[16, 64, 3\], but problem "
                                               r"'img2img_cifar10' has targets of shape \[32, 32, 3\]"):
        problem.dataset("test", str(tmp_path), 4)
    os.remove(path)  # an unfinished (or damaged) preparation is never read: it is named
    with pytest.raises(CorruptDataError, match=r"holds prepared test files .* but not test.json"):
        problem.dataset("test", str(tmp_path), 4)


def test_a_dangling_symbolic_link_among_the_images_is_named(builtins, photo_folder):
    (photo_folder / "train" / "faces" / "moved.jpg").symlink_to(photo_folder / "nowhere.jpg")
    problem = builtins.problem("image_folder")
    with pytest.raises(DataNotFoundError, match=r"symbolic links to files that do not exist \(.*moved.jpg -> "
                                                r".*nowhere.jpg\)"):
        problem.dataset("train", str(photo_folder), 4)


# -- every problem trains by name ------------------------------------------------------------------------
@pytest.mark.parametrize("problem,model,hparams_set,data,options", [
    ("image_imagenet32", "image_transformer", "imagetransformer_imagenet32_tiny", "imagenet", ""),
    ("image_imagenet64", "image_transformer", "imagetransformer_imagenet32_tiny", "imagenet", ""),
    ("img2img_celeba", "img2img_transformer", "img2img_transformer_celeba_2d_tiny", "celeba", ""),
    ("image_celeba32", "image_transformer", "imagetransformer_cifar10_tiny", "celeba", ""),
    ("image_folder", "image_transformer", "imagetransformer_cifar10_cond_tiny", "folder", "image_size=16,labels=true"),
    ("image_mnist", "image_transformer", "imagetransformer_cifar10_cond_tiny", "mnist", "binarization=dynamic"),
])
def test_every_problem_trains_by_name(builtins, imagenet_dir, celeba_dir, photo_folder, mnist_dir, tmp_path, problem,
                                      model, hparams_set, data, options):
    from conftest import TINY_OVERRIDES
    from imgtf.train import run_dir
    from imgtf.train.trainer import Trainer

    data_dir = {"imagenet": imagenet_dir, "celeba": celeba_dir, "folder": str(photo_folder), "mnist": mnist_dir}[data]
    spec = run_dir.resolve(str(tmp_path / "run"), problem, model, hparams_set,
                           TINY_OVERRIDES + ",query_shape=[4,16],memory_flange=[2,8]", options)
    trainer = Trainer(spec, str(tmp_path / "run"), data_dir)
    assert trainer.train(2, log_every=1) == 2
    split = "train" if data == "celeba" else trainer.problem.eval_split  # the CelebA subset is all train
    entry = Evaluator.of(trainer).evaluate(split, eval_steps=1)
    assert entry["num_images"] >= 2 and np.isfinite(entry["bits_per_dim"])


@pytest.mark.parametrize("problem,tfds_name,split,shapes", [
    ("image_cifar10", "cifar10", "test", {"targets": (32, 32, 3), "label": ()}),
    ("image_imagenet32", "downsampled_imagenet", "validation", {"targets": (32, 32, 3)}),
    ("img2img_celeba", "celeb_a", "validation", {"targets": (32, 32, 3), "inputs": (8, 8, 3)}),
    ("image_mnist", "mnist", "test", {"targets": (28, 28, 1), "label": ()}),
    ("image_binarized_mnist", "binarized_mnist", "validation", {"targets": (28, 28, 1)}),
])
def test_tensorflow_datasets_source_when_prepared(builtins, tmp_path, monkeypatch, problem, tfds_name, split, shapes):
    """tfds is used only when no official files are there and the dataset is prepared (mocked: offline)."""
    import tensorflow_datasets as tfds

    (tmp_path / tfds_name).mkdir()
    with tfds.testing.mock_data(num_examples=4):
        monkeypatch.setattr(tfds.core.DatasetBuilder, "is_prepared", lambda self: True)
        batch = everything(builtins.problem(problem), split, str(tmp_path), batch=4)
    assert {k: v.shape[1:] for k, v in batch.items()} == shapes and len(batch["targets"]) == 4
    assert batch["targets"].dtype == np.uint8


def test_resuming_on_changed_classes_names_the_change(builtins, photo_folder, tmp_path):
    from conftest import TINY_OVERRIDES
    from imgtf.train import run_dir
    from imgtf.errors import TrainingError
    from imgtf.train.trainer import Trainer

    run = str(tmp_path / "run")
    spec = run_dir.resolve(run, "image_folder", "image_transformer", "imagetransformer_cifar10_cond_tiny",
                           TINY_OVERRIDES, "image_size=16,labels=true")
    Trainer(spec, run, str(photo_folder))
    run_dir.save(spec, run)  # as imgtf-trainer does, after building: hparams.json records the data's classes
    (photo_folder / "train" / "cats").mkdir()
    (photo_folder / "train" / "cats" / "c.png").write_bytes((photo_folder / "train" / "zebras" / "z0.png").read_bytes())
    with pytest.raises(TrainingError, match="num_classes 2 when the run started, 3 now"):
        Trainer(run_dir.resolve(run), run, str(photo_folder))
