"""Your own images: a folder per split of PNG/JPEG files of any size, center-cropped and area-resized.

    DATA_DIR/train/...   DATA_DIR/test/...        (any nesting; with labels=true, one subfolder per class)

Without code: `--problem=image_folder --problem_options=image_size=32,input_size=8,labels=true`. Options of the pixels:
  channels=1                 grayscale (ITU-R 601 luma of the RGB image, as tf.image.rgb_to_grayscale); 3: RGB
  num_levels=2               binary images (values 0 and 1), or any 2..256 levels (uniform bins of the 8-bit value)
  binarization=stochastic    with num_levels=2: 1 with probability intensity/255, drawn once per image from
                             binarization_seed and the file's path (the same images every epoch and run), as
                             binarized MNIST; the default, threshold, gives 1 for intensities >= 128
  image_width=40             non-square targets (image_size is then the height); input_width likewise for inputs
Images are centre-cropped to the targets' aspect ratio, then area-resized.
With code (in a --usr_dir module), subclass and set the attributes:

    @register_problem
    class MyFaces(ImageFolderProblem):
        image_size = 64
"""
import os

from imgtf.data import archives, images
from imgtf.errors import DataNotFoundError
from imgtf.data.indexed import IndexedExamples
from imgtf.problems.problem import Problem
from imgtf.registry import register_problem


class ImageFolderProblem(Problem):
    """Base class for image-folder problems (subclass it; `image_folder` is the flag-configured instance)."""

    image_size = 32  # targets are image_size x image_size
    input_size = 0  # > 0: also yield `inputs` of input_size x input_size (super-resolution)
    labels = False  # one subfolder per class under each split; class ids follow sorted names in the train split
    skip_corrupt = False  # skip (and count) unreadable files instead of stopping with an error naming them
    channels = 3  # 1: grayscale (ITU-R 601 luma of the RGB image, as tf.image.rgb_to_grayscale), 3: RGB
    num_levels = 256  # intensity levels: 2 for binary images
    binarization = "threshold"  # with num_levels=2: "threshold" (>= 128) or "stochastic" (fixed per image)
    binarization_seed = 0  # stochastic binarisation's seed
    image_width = 0  # > 0: targets are image_size x image_width (height x width)
    input_width = 0  # > 0: inputs are input_size x input_width
    splits = ("train", "test")
    configurable = ("image_size", "image_width", "input_size", "input_width", "labels", "skip_corrupt", "channels",
                    "num_levels", "binarization", "binarization_seed")

    def __init__(self):
        self.classes = None
        self.skipped = images.SkipCounter()

    def configure(self, options):
        from imgtf.hparams.hparams import HParamsError

        changed = super().configure(options)
        problems = []
        if self.channels not in (1, 3):
            problems.append(f"channels={self.channels}; use 1 (grayscale) or 3 (RGB)")
        if not 2 <= self.num_levels <= 256:
            problems.append(f"num_levels={self.num_levels}; use 2 (binary) to 256 (8-bit)")
        if self.binarization not in ("threshold", "stochastic"):
            problems.append(f"binarization={self.binarization!r}; use threshold or stochastic")
        elif self.binarization == "stochastic" and self.num_levels != 2:
            problems.append(f"binarization=stochastic draws binary images; it needs num_levels=2 (not "
                            f"{self.num_levels})")
        for key in ("image_size", "image_width", "input_size", "input_width"):
            if getattr(self, key) < 0 or (key == "image_size" and self.image_size < 1):
                problems.append(f"{key}={getattr(self, key)} must be {'at least 1' if key == 'image_size' else '>= 0'}")
        if self.input_width and not self.input_size:
            problems.append("input_width needs input_size (the inputs' height)")
        if self.input_size and (self.input_size > self.image_size or
                                (self.input_width or self.input_size) > (self.image_width or self.image_size)):
            problems.append(f"inputs of {self.input_shape[0]}x{self.input_shape[1]} are larger than the targets of "
                            f"{self.image_shape[0]}x{self.image_shape[1]}: the inputs are the low-resolution images a "
                            "model enlarges to image_size (e.g. input_size=8,image_size=32)")
        if problems:
            raise HParamsError(f"problem {self.name!r}: " + "; ".join(problems) + ".")
        return changed

    @property
    def image_shape(self):
        return (self.image_size, self.image_width or self.image_size, self.channels)

    @property
    def input_shape(self):
        return (self.input_size, self.input_width or self.input_size, self.channels) if self.input_size else None

    def pixel_format(self, image, seed=None):
        """Resized RGB (float 0-255) -> this folder's channels and levels (see the module docstring)."""
        if self.channels == 1:
            image = images.to_gray(image)
        if self.binarization == "stochastic":
            if seed is None:
                raise ValueError("stochastic binarisation needs a per-image seed")
            return images.binarize_stochastic(image, seed)
        return images.quantize(image, self.num_levels)

    def image_seed(self, key):
        """int32 [2]: a per-image seed for stochastic binarisation, from binarization_seed and the image's key (its
        split and path inside the split's folder, so a moved data folder binarises alike)."""
        import tensorflow as tf

        bucket = tf.strings.to_hash_bucket_fast(key, 2 ** 31 - 1)
        return tf.stack([tf.constant(self.binarization_seed, tf.int32), tf.cast(bucket, tf.int32)])

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

    def indexed_examples(self, split, data_dir):
        root = self.split_dir(split, data_dir)
        files = archives.list_images(root)
        if not files:
            raise DataNotFoundError(f"{root} holds no .png/.jpg/.jpeg files.")
        columns = {"path": files}
        if self.binarization == "stochastic":
            columns["key"] = [f"{split}/{os.path.relpath(f, root)}" for f in files]
        if self.labels:
            self.bind(data_dir)
            ids = {c: i for i, c in enumerate(self.classes)}
            relative = [os.path.relpath(f, root).split(os.sep)[0] for f in files]
            unknown = sorted({c for c in relative if c not in ids})
            if unknown:
                raise DataNotFoundError(f"{root}: class folders {unknown} are not among the training classes "
                                        f"{self.classes}, or images lie outside class folders.")
            columns["label"] = [ids[c] for c in relative]
        return IndexedExamples.from_columns(columns)

    def preprocess(self, example):
        import tensorflow as tf

        image, ok = images.tf_decode(tf.io.read_file(example["path"]), example["path"],
                                     self.skipped if self.skip_corrupt else None)
        height, width, _ = self.image_shape
        image = images.center_crop_to_aspect(image, height, width)
        seed = self.image_seed(example["key"]) if self.binarization == "stochastic" else None
        features = images.image_features(image, (height, width), self.input_shape and self.input_shape[:2],
                                         self.pixel_format, seed)
        if self.labels:
            features["label"] = tf.cast(example["label"], tf.int32)
        features["_ok"] = ok
        return features

    def num_examples(self, split, data_dir):
        return len(archives.list_images(self.split_dir(split, data_dir)))


@register_problem
class ImageFolder(ImageFolderProblem):
    """Your own PNG/JPEG images in DATA_DIR/train/, DATA_DIR/test/; --problem_options=image_size=32,input_size=8,labels=true,skip_corrupt=true,channels=1,num_levels=2,image_width=40."""
