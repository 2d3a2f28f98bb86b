"""How to sample, as one value checked once: `SamplingSettings` holds what every decoder mode and `model.sample` read
(count, temperature, seed, batch size, samples per input, XLA), refused where it would sample nonsense before a
checkpoint is loaded or a file written. Also the checks of the values a sampling call is given: whole numbers,
32-bit seeds, and conditioning features against a model's input contract."""
import copy
import dataclasses
import math

import numpy as np

from imgtf.errors import InputError
from imgtf.machine import physical_memory_bytes

INT32_SEEDS = (-2 ** 31, 2 ** 31 - 1)
STYLES = ("flag", "python")


def whole_number(name, value, minimum=1):
    """`value` as an int, if it is an integer (not a bool, float or string) >= minimum; else InputError."""
    integer = isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
    if not integer or value < minimum:
        kind = "" if integer else f", not a {type(value).__name__}"
        raise InputError(f"{name}={value!r}: must be a whole number >= {minimum}{kind}.")
    return int(value)


def seed_value(seed, name="seed"):
    """A sampling seed: an integer that fits in 32 bits (the stateless random ops take int32 seeds)."""
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise InputError(f"{name} must be an integer; got {seed!r} ({type(seed).__name__}).")
    if not INT32_SEEDS[0] <= seed <= INT32_SEEDS[1]:
        raise InputError(f"{name}={seed} does not fit in 32 bits: use an integer in [{INT32_SEEDS[0]}, "
                         f"{INT32_SEEDS[1]}].")
    return int(seed)


def sampling_conditioning(contract, num_samples, label=None, inputs=None, model_name="this model"):
    """The conditioning features of a `sample` call, checked: given exactly when the model reads them, as one value
    for every sample or one per sample, of the contract's dtype, shape and range. Returns a dict (may be empty).
    `contract` is the model's input contract (`model.input_contract`: keys, specs, expected, check_feature/_values)."""
    given = {k: v for k, v in (("label", label), ("inputs", inputs)) if v is not None}
    for key in given:
        if key not in contract.keys:
            what = "class-conditional" if key == "label" else "conditioned on a low-resolution image"
            raise InputError(f"{model_name} is not {what}: it does not read {key}=. Drop {key}=... (sampling would "
                             "silently ignore it).")
    features = {}
    for key in contract.keys[1:]:
        if key not in given:
            raise InputError(f"{model_name} is conditioned on {key}: pass {key}=... to sample, one for every sample "
                             f"or one per sample ({contract.expected(key)}).")
        values = np.asarray(given[key])
        rank = len(contract.specs[key][0])
        if values.ndim == rank:
            values = values[None]
        if values.ndim != rank + 1 or values.shape[0] not in (1, num_samples):
            raise InputError(f"{key}=: one value for every sample or one per sample ({num_samples}); "
                             f"{contract.expected(key)}; got shape {list(np.shape(given[key]))}.")
        values = np.broadcast_to(values, (num_samples, *values.shape[1:]))
        contract.check_feature(key, values)
        if values.size:
            contract.check_values(key, values)
        features[key] = values.astype(np.int32 if key == "label" else np.uint8)
    return features


@dataclasses.dataclass(frozen=True)
class SamplingSettings:
    """What a sampling call reads, checked in __post_init__ (so a value of this type is valid). Temperature 0 is
    refused rather than taken as greedy: dividing logits by 0 is not argmax, and argmax decoding of pixels gives flat,
    unrepresentative images. Messages name command-line flags (style "flag", `from_flags`) or Python arguments."""
    num_samples: int = 8  # images (completion / super-resolution: inputs)
    temperature: float = 1.0
    seed: int = 0  # image i of the draw draws with a hash of (seed, i), at any batch size
    batch_size: int = 8  # images (inputs) sampled together
    samples_per_input: int = 1  # completion / super-resolution
    jit_compile: bool = True  # compile the sampling loop with XLA
    style: str = dataclasses.field(default="python", compare=False)  # messages name "flag"s (--seed) or "python" args
    first: int = 0  # the index in the whole draw of this call's first image (`batch`)

    def __post_init__(self):
        if self.style not in STYLES:
            raise ValueError(f"style={self.style!r}: one of {', '.join(STYLES)}.")
        temperature = self.temperature
        real = isinstance(temperature, (int, float, np.integer, np.floating)) and not isinstance(temperature, bool)
        value = float(temperature) if real else math.nan
        if not (math.isfinite(value) and value > 0):
            raise InputError(f"{self.name('temperature')}={temperature!r}: must be a finite number > 0 (1.0 samples "
                             "the model; the paper uses 0.8-1.0; lower values give more conservative images).")
        checked = {"temperature": value}
        for setting in ("num_samples", "batch_size", "samples_per_input"):
            checked[setting] = whole_number(self.name(setting), getattr(self, setting))
        checked["seed"] = seed_value(self.seed, self.name("seed"))
        for setting, value in checked.items():
            object.__setattr__(self, setting, value)

    @classmethod
    def from_flags(cls, args):
        """The settings of imgtf-decoder's flags (messages name the flags)."""
        return cls(num_samples=args.num_samples, temperature=args.temperature, seed=args.seed,
                   batch_size=args.batch_size, samples_per_input=args.samples_per_input, jit_compile=args.xla,
                   style="flag")

    @classmethod
    def one_batch(cls, num_samples=1, temperature=1.0, seed=0, jit_compile=True):
        """The settings of one Python sampling call (`model.sample`, `cached_sample`): all its images in one batch."""
        batch_size = num_samples if isinstance(num_samples, (int, np.integer)) and num_samples >= 1 else 1
        return cls(num_samples=num_samples, temperature=temperature, seed=seed, batch_size=batch_size,
                   jit_compile=jit_compile)

    def check_memory(self, image_shape, per_item=1):
        """InputError, with the estimate, when the draw's images alone exceed the machine's memory: they are all kept
        (returned as one array; the decoder writes them as samples.npy and a grid), so such a draw would fail after
        hours of sampling, or in TensorFlow's allocator."""
        images = self.num_samples * per_item
        needed = images * int(np.prod(image_shape))  # uint8 values, before the grid and any copy
        available = physical_memory_bytes()
        if available and needed > available:
            per = f" x {self.name('samples_per_input')}={per_item}" if per_item != 1 else ""
            again = "decodes with other --seed values" if self.style == "flag" else "calls with another seed"
            raise InputError(f"{self.name('num_samples')}={self.num_samples}{per}: every image is kept in memory, at "
                             f"least {needed / 2 ** 30:,.1f} GiB, more than this machine's {available / 2 ** 30:,.1f} "
                             f"GiB. Draw fewer ({again} draw other images); nothing was sampled.")

    def name(self, setting):
        """How messages name `setting`: `--seed` for the command line, `seed` for Python."""
        return f"--{setting}" if self.style == "flag" else setting

    def batch(self, first, count):
        """These settings for one batch of `count` images, images `first` .. of the whole draw: the sampler gives each
        the seeds of its index in the draw (imgtf.likelihoods.random_numbers), so every image is the same at any batch
        size. Not checked again."""
        batch = copy.copy(self)
        object.__setattr__(batch, "num_samples", int(count))
        object.__setattr__(batch, "first", self.first + int(first))
        return batch
