"""Your own images: a folder per split of PNG/JPEG files of any size, center-cropped and area-resized.

    DATA_DIR/train/...   DATA_DIR/test/...        (any nesting; with labels=true, one subfolder per class)

Without code: `--problem=image_folder --problem_options=image_size=32,input_size=8,labels=true` (channels=1: grayscale).
With code (in a --usr_dir module), subclass and set the attributes:

    @register_problem
    class MyFaces(ImageFolderProblem):
        image_size = 64
"""
import os

from imgtf.data import archives, images
from imgtf.data.errors import DataNotFoundError
from imgtf.problems.problem import Problem
from imgtf.registry import register_problem


class ImageFolderProblem(Problem):
    """Base class for image-folder problems (subclass it; `image_folder` is the flag-configured instance)."""

    image_size = 32  # targets are image_size x image_size
    input_size = 0  # > 0: also yield `inputs` of input_size x input_size (super-resolution)
    labels = False  # one subfolder per class under each split; class ids follow sorted names in the train split
    skip_corrupt = False  # skip (and count) unreadable files instead of stopping with an error naming them
    channels = 3  # 1: grayscale (ITU-R 601 luma of the RGB image, as tf.image.rgb_to_grayscale), 3: RGB
    splits = ("train", "test")
    configurable = ("image_size", "input_size", "labels", "skip_corrupt", "channels")

    def __init__(self):
        self.classes = None
        self.skipped = images.SkipCounter()

    def configure(self, options):
        changed = super().configure(options)
        if self.channels not in (1, 3):
            from imgtf.hparams.hparams import HParamsError

            raise HParamsError(f"problem {self.name!r}: channels={self.channels}; use 1 (grayscale) or 3 (RGB).")
        return changed

    @property
    def image_shape(self):
        return (self.image_size, self.image_size, self.channels)

    @property
    def input_shape(self):
        return (self.input_size, self.input_size, self.channels) if self.input_size else None

    @property
    def num_classes(self):
        return len(self.classes) if self.labels and self.classes else None

    def split_dir(self, split, data_dir):
        self.check_split(split)
        path = os.path.join(data_dir or "", split)
        if not data_dir or not os.path.isdir(path):
            raise DataNotFoundError(
                f"problem {self.name!r} reads images from DATA_DIR/{split}/ (PNG or JPEG, any size"
                f"{', one subfolder per class' if self.labels else ''}); {path!r} is not a folder. "
                f"Set --data_dir to the folder holding {', '.join(s + '/' for s in self.splits)}.")
        return path

    def bind(self, data_dir):
        """With labels: the classes are the training split's subfolders, checked before anything trains: each must
        hold images (an empty one would still take a class id), and no other split may have a class the training
        split lacks (found only when it is evaluated, after training, otherwise)."""
        if self.labels and self.classes is None:
            root = self.split_dir(self.train_split, data_dir)
            classes = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
            if not classes:
                raise DataNotFoundError(f"labels=true but {root} has no class subfolders.")
            empty = [c for c in classes if not archives.list_images(os.path.join(root, c))]
            if empty:
                raise DataNotFoundError(f"{root}: class folders {empty} hold no .png/.jpg/.jpeg files; add images or "
                                        "remove them (each folder is a class and shifts the ids of the next).")
            for split in self.splits:
                other = os.path.join(data_dir, split)
                if split == self.train_split or not os.path.isdir(other):
                    continue
                extra = sorted(d for d in os.listdir(other) if os.path.isdir(os.path.join(other, d))
                               and d not in classes)
                if extra:
                    raise DataNotFoundError(f"{other}: class folders {extra} are not among the training classes "
                                            f"{classes} in {root}; a model cannot predict a class it never saw.")
            self.classes = classes

    def examples(self, split, data_dir):
        import tensorflow as tf

        root = self.split_dir(split, data_dir)
        files = archives.list_images(root)
        if not files:
            raise DataNotFoundError(f"{root} holds no .png/.jpg/.jpeg files.")
        columns = {"path": files}
        if self.labels:
            self.bind(data_dir)
            ids = {c: i for i, c in enumerate(self.classes)}
            relative = [os.path.relpath(f, root).split(os.sep)[0] for f in files]
            unknown = sorted({c for c in relative if c not in ids})
            if unknown:
                raise DataNotFoundError(f"{root}: class folders {unknown} are not among the training classes "
                                        f"{self.classes}, or images lie outside class folders.")
            columns["label"] = [ids[c] for c in relative]
        return tf.data.Dataset.from_tensor_slices(columns)

    def preprocess(self, example):
        import tensorflow as tf

        image, ok = images.tf_decode(tf.io.read_file(example["path"]), example["path"],
                                     self.skipped if self.skip_corrupt else None)
        image = images.center_crop_square(image)
        if self.channels == 1:
            image = tf.image.rgb_to_grayscale(tf.cast(image, tf.float32))
        features = images.image_features(image, self.image_size, self.input_size or None)
        if self.labels:
            features["label"] = tf.cast(example["label"], tf.int32)
        features["_ok"] = ok
        return features

    def num_examples(self, split, data_dir):
        return len(archives.list_images(self.split_dir(split, data_dir)))


@register_problem
class ImageFolder(ImageFolderProblem):
    """Your own PNG/JPEG images in DATA_DIR/train/, DATA_DIR/test/; --problem_options=image_size=32,input_size=8,labels=true,skip_corrupt=true."""
