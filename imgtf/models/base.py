"""What every imgtf model shares: construction from (hparams, problem_info), the features -> likelihood parameters
contract, log_prob in nats per sub-pixel, its loss for Keras's `fit`/`evaluate` (and the trainer), `sample`, access
to one generation unit's parameters, and its config. The model protocol (what the trainer, evaluator, samplers,
decoder and exporter read of a model) is declared on AutoregressiveImageModel.
"""
import importlib.util
import warnings

import keras
import numpy as np
from keras import ops

from imgtf.hparams.hparams import HParams, check_ranges, check_types
from imgtf.hparams.training import model_settings
from imgtf.likelihoods.likelihood import build_likelihood
from imgtf.layers.composite import BuiltAtFirstCall
from imgtf.layers.recompute import recomputed
from imgtf import registry, units
from imgtf.errors import InputError
from imgtf.models import footprint
from imgtf.models.inputs import InputContract


def registered_sets(model_class):
    """The registered hparams sets of `model_class`'s family (its package's `hparams_sets` module, imported if it has
    one) and of any other family registered so far: what gives each hparam its type, so that a config with "24" or
    2.5 for a count (a hand-edited `.keras` file) is refused, not built."""
    package = model_class.__module__.rpartition(".")[0]
    if package and importlib.util.find_spec(f"{package}.hparams_sets") is not None:
        importlib.import_module(f"{package}.hparams_sets")
    return [registry.hparams(name) for name in registry.hparams_sets.names()]


class AutoregressiveImageModel(BuiltAtFirstCall, keras.Model):
    """Base of every model. `compile(optimizer=...)` then `fit(problem.dataset(...))` trains it on its negative
    log-likelihood (the default loss; reported as `loss` in nats/dim and `bits_per_dim`); `sample` draws images.

    The protocol, all that code outside a model reads of it:
      call(features) -> parameters   features: "targets" uint8 [B, H, W, C], and what `conditioning_keys` names
                                     (the input contract, imgtf.models.inputs: checked by `__call__`, fit, evaluate)
      likelihood                     its Likelihood, built by name (`build_likelihood`, hparam `likelihood`)
      uses_label                     reads features["label"] (int32 [B]): class-conditional
      uses_encoder                   reads features["inputs"] (uint8 [B, *input_shape]): super-resolution
      geometry                       the generation order of its units (imgtf.layers.geometry)
      empty_cache(features, batch), step(cache, previous, t, features)   the cached sampler's incremental step
    A family sets uses_label / uses_encoder in its constructor (or as class attributes) and never elsewhere."""

    uses_encoder = False
    uses_label = False

    def __init__(self, hparams, problem_info, **kwargs):
        super().__init__(**kwargs)
        # model settings only: a batch size or an optimiser is not part of what the model is (nor of its config)
        self.hparams = HParams(**model_settings(hparams))
        source = "the model's hparams (build_model, or the config of a .keras file)"
        check_types(self.hparams, registered_sets(type(self)), source,
                    fix="Fix them there; the registered sets show each value's type.")
        check_ranges(self.hparams, source=source)
        footprint.check_weights_fit(self.hparams, source=source)
        self.problem_info = dict(problem_info)
        self.image_shape = tuple(self.problem_info["image_shape"])
        self.num_levels = int(self.problem_info.get("num_levels", 256))  # values 0 .. num_levels-1 per sub-pixel
        # compiled samplers by jit_compile (imgtf.sampling.sampler); set past Keras's tracking: not model state
        object.__setattr__(self, "_samplers", {})
        # hparam recompute: layers run through `checkpointed` keep only their inputs for the backward pass
        self.recompute = bool(self.hparams.get("recompute", False))
        self.recompute_seeds = keras.random.SeedGenerator(name="recompute_seeds") if self.recompute else None
        # hparam weight_norm: 1 once the data-dependent initialisation ran; a weight, so checkpoints and .keras files
        # keep it and a resumed run (or a second fit) does not redo it
        self.data_initialized = (self.add_weight(name="data_initialized", shape=(), dtype="int32", initializer="zeros",
                                                 trainable=False) if self.hparams.get("weight_norm") else None)

    @property
    def input_contract(self):
        """The features this model accepts (imgtf.models.inputs): checked by every entry point."""
        return InputContract.of(self)

    def __call__(self, features, *args, **kwargs):
        """Keras's call, after the input contract: dtypes and shapes always, values where they are known (eager)."""
        self.input_contract.check(features, where=type(self).__name__)
        return super().__call__(features, *args, **kwargs)

    @property
    def conditioning_keys(self):
        """The features besides "targets" that the model reads: ("label",), ("inputs",), both or none."""
        return tuple(k for k, used in (("label", self.uses_label), ("inputs", self.uses_encoder)) if used)

    def build_likelihood(self, allowed_units=("subpixel", "pixel")):
        """The likelihood named by hparam `likelihood` (the likelihood registry) for this model's levels; a family
        whose network can only produce some units (per sub-pixel, per pixel) names them, and another is refused. On
        one-channel images a sub-pixel is a pixel, so a per-pixel network also takes a per-sub-pixel likelihood (a
        categorical for binary MNIST)."""
        likelihood = build_likelihood(self.hparams, self.num_levels)
        if "pixel" in allowed_units and self.image_shape[-1] == 1:
            allowed_units = (*allowed_units, "subpixel")
        if likelihood.unit not in allowed_units:
            raise ValueError(f"hparam likelihood={self.hparams.likelihood!r} models one {likelihood.unit} per step; "
                             f"{type(self).__name__} predicts one {' or '.join(allowed_units)} per step. Use a "
                             f"likelihood of that unit (imgtf-trainer --registry_help lists them).")
        return likelihood

    @property
    def num_units(self):
        return self.geometry.length

    @property
    def width(self):
        """The model's width (hparam hidden_size), which the rsqrt_decay schedule scales with; None if it has none."""
        return self.hparams.get("hidden_size")

    @property
    def dims(self):
        """Sub-pixels per image: the denominator of bits/dim."""
        return int(np.prod(self.image_shape))

    @property
    def samplers(self):
        """The compiled samplers of this model, by jit_compile (filled by imgtf.sampling.sampler)."""
        return self._samplers

    # -- likelihood ------------------------------------------------------------------------------------
    def log_prob(self, features, training=False):
        """Log-likelihood in nats of every sub-pixel of features["targets"]: [B, H, W, C]."""
        return self.likelihood.log_prob(self(features, training=training), features["targets"])

    def negative_log_likelihood(self, features, params=None, training=False):
        """Nats per image [B] (params: the model's output for `features`, if already computed). The one loss code
        behind `fit`, `evaluate` and the trainer."""
        params = self(features, training=training) if params is None else params
        return -ops.sum(self.likelihood.log_prob(params, features["targets"]), axis=(1, 2, 3))

    # -- data-dependent initialisation (hparam weight_norm; imgtf.layers.weight_norm) ---------------------------
    @property
    def weight_normalized_layers(self):
        from imgtf.layers.weight_norm import WeightNormalized

        return [layer for layer in self._flatten_layers(include_self=False)
                if isinstance(layer, WeightNormalized) and layer.weight_norm]

    @property
    def needs_data_initialization(self):
        """True until `initialize_from_data` has run on a model with weight-normalised layers."""
        return self.data_initialized is not None and int(ops.convert_to_numpy(self.data_initialized)) == 0

    def initialize_from_data(self, features):
        """Data-dependent initialisation: one eager forward pass over `features` (a batch of training images) in
        which every weight-normalised layer sets its scale and bias so that its outputs start with mean 0 and standard
        deviation init_scale per channel on this batch; dropout is on, as in training. The trainer and `fit` call it
        before the first step; call it yourself before a custom loop. Returns the model."""
        self.build_variables()
        layers = self.weight_normalized_layers
        if not layers:
            return self
        self.input_contract.check(features, where="initialize_from_data")
        for layer in layers:
            layer.initializing = True
        try:
            self(features, training=True)
        finally:
            for layer in layers:
                layer.initializing = False
        self.data_initialized.assign(1)
        return self

    def _initialize_from_fit_data(self, x, kwargs):
        """Before `fit`'s first step: initialise from its first batch (a dataset's first element, or the first
        batch_size images of a dict of arrays)."""
        if hasattr(x, "element_spec"):
            batch = next(iter(x.take(1)))
            batch = batch[0] if isinstance(batch, tuple) else batch
        elif isinstance(x, dict):
            batch = {k: np.asarray(v)[:kwargs.get("batch_size") or 32] for k, v in x.items()}
        else:
            raise InputError("fit: this model has weight-normalised layers (hparam weight_norm) that are initialised "
                             "from a first batch of data, which fit cannot take from a generator without consuming "
                             "it. Call model.initialize_from_data(batch) with a batch of training images first, or "
                             "pass a tf.data dataset or a dict of arrays.")
        self.initialize_from_data(batch)

    def fit(self, x=None, y=None, *args, shuffle=None, **kwargs):
        """Keras's `fit`. `shuffle` defaults to False for datasets (problem.dataset is already in its training order,
        and Keras ignores the flag for them, with a warning) and to True for arrays, as in Keras. The optimizer is
        built first, so that the training step is traced once (a step that creates variables is traced twice).
        Weight-normalised models are initialised from the first batch before the first fit (`initialize_from_data`).
        An optimizer with `use_ema` (Polyak averaging) leaves the averages in the weights when fit ends (Keras's
        `finalize_variable_values`), so evaluate, sample and save then use them."""
        if shuffle is None:
            shuffle = not hasattr(x, "element_spec")
        x = self._checked_data(x, "fit")
        if self.needs_data_initialization:
            from imgtf.data.errors import reraise_from_pipeline

            with reraise_from_pipeline():
                self._initialize_from_fit_data(x, kwargs)
        if kwargs.get("validation_data") is not None:
            kwargs["validation_data"] = self._checked_data(kwargs["validation_data"], "fit(validation_data=...)")
        if getattr(self, "optimizer", None) is not None and not self.optimizer.built:
            # the optimizer's slots made now, not inside the first step: TensorFlow would trace that step twice
            self.build_variables()
            self.optimizer.build(self.trainable_variables)
        from imgtf.data.errors import reraise_from_pipeline

        with reraise_from_pipeline():
            return super().fit(x, y, *args, shuffle=shuffle, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        """Keras's `evaluate`. Keras 3 warns "Your input ran out of data" whenever a dataset of unknown length ends,
        which is how an evaluation of a whole (or `take(n)` of a) split ends: that one warning is not shown."""
        from imgtf.data.errors import reraise_from_pipeline

        x = self._checked_data(x, "evaluate")
        with warnings.catch_warnings(), reraise_from_pipeline():
            warnings.filterwarnings("ignore", message="Your input ran out of data", category=UserWarning)
            result = super().evaluate(x, y, *args, **kwargs)
        if result is None or (hasattr(result, "__len__") and not len(result)):
            raise InputError("evaluate: the data yielded no batches, so there is nothing to report. Pass a "
                             "non-empty dataset (problem.dataset(split, data_dir, batch_size), or a dict of arrays).")
        return result

    def _checked_data(self, data, where):
        """The data of fit/evaluate under the input contract: a tf.data dataset has its element structure checked now
        and its values asserted per batch; a dict of arrays is checked at once. Other forms reach Keras as given."""
        contract = self.input_contract
        if hasattr(data, "element_spec"):
            return contract.checked_dataset(data, where=where)
        if data is None or isinstance(data, keras.utils.PyDataset) or hasattr(data, "__next__"):
            return data  # generators: their batches meet the contract's structure checks in the model's call
        contract.check(data[0] if isinstance(data, tuple) and data else data, where=where)
        return data

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Keras's loss hook: the mean negative log-likelihood in nats per sub-pixel when `compile` was given no
        loss (the default), plus any layer losses; a loss passed to `compile` is used as Keras would."""
        if getattr(self, "_compile_loss", None) is not None:
            return super().compute_loss(x, y, y_pred, sample_weight, training)
        self.input_contract.check_structure(x, where="compute_loss")
        nll = ops.mean(self.negative_log_likelihood(x, params=y_pred)) / self.dims
        return nll + ops.sum(self.losses) if self.losses else nll

    def get_metrics_result(self):
        """Keras's metric results plus `bits_per_dim` (the default loss, nats/dim, over ln 2)."""
        result = super().get_metrics_result()
        if "loss" in result and getattr(self, "_compile_loss", None) is None:
            result["bits_per_dim"] = units.nats_to_bits(result["loss"])
        return result

    def checkpointed(self, fn, *tensors, training=False, dropout_in=None):
        """fn(*tensors): one layer (or block) of the model. With hparam recompute, when training, its activations are
        recomputed in the backward pass instead of kept (imgtf.layers.recompute); `dropout_in` is the layer whose
        Dropout sub-layers fn runs, so that both passes draw the same masks."""
        if not (self.recompute and training):
            return fn(*tensors)
        return recomputed(fn, *tensors, dropout_in=dropout_in, seed_generator=self.recompute_seeds, training=True)

    # -- construction helpers --------------------------------------------------------------------------
    def dummy_features(self, batch=1):
        """Zero features of the problem's shapes (to build every variable, or to trace a function)."""
        info = self.problem_info
        features = {"targets": np.zeros([batch, *info["image_shape"]], np.uint8)}
        if info.get("num_classes"):
            features["label"] = np.zeros([batch], np.int32)
        if info.get("input_shape"):
            features["inputs"] = np.zeros([batch, *info["input_shape"]], np.uint8)
        return features

    def build_variables(self):
        """Create every weight (a forward pass on zeros); returns the model."""
        if not self.built:
            self(self.dummy_features(1))
        return self

    # -- sampling --------------------------------------------------------------------------------------
    def sample(self, num_samples=1, temperature=1.0, seed=0, label=None, inputs=None, known=None, known_mask=None,
               jit_compile=True):
        """uint8 images [num_samples, H, W, C] (values 0 .. num_levels-1) drawn from the model with its cached,
        compiled incremental sampler (kept on this model: the first call traces and compiles it, later calls reuse
        it). Conditioning: `label` (class-conditional models; an int or [num_samples] ints), `inputs`
        (super-resolution: [num_samples, h, w, 3] uint8 low-resolution images); `known` + `known_mask`
        ([num_samples, H, W, 3] images and booleans) keep the given values instead of sampling them (completion). The
        settings are checked once per call (imgtf.sampling.settings). The same seed gives the same images."""
        from imgtf.sampling.sampler import sample_images  # TensorFlow code, kept out of models
        from imgtf.sampling.settings import SamplingSettings

        settings = SamplingSettings.one_batch(num_samples, temperature, seed, jit_compile)
        return sample_images(self, settings, label=label, inputs=inputs, known=known, known_mask=known_mask)

    def unit_params(self, params, t):
        """From full-image parameters ([B, H, W, 3, P] or [B, H, W, P]), those of the unit generated at step t."""
        flat = ops.reshape(params, (ops.shape(params)[0], self.geometry.length, self.likelihood.params_per_unit))
        return ops.take(flat, ops.take(self.geometry.order.astype("int32"), t), axis=1)

    def build_from_config(self, config):
        """Keras's rebuild when a `.keras` file is loaded: a forward pass on zero features of the problem's shapes
        (Keras's own pass feeds float placeholders, which the input contract refuses)."""
        self.build_variables()

    def _default_save_signature(self):
        """No Keras `serving_default`: Keras traces one with float inputs of the built shapes (a model held inside
        another, e.g. the multi-scale PixelRNN's Row LSTMs), which the input contract refuses: pixels are integers.
        imgtf.export writes a SavedModel's signatures."""
        return None

    def get_config(self):
        return {**super().get_config(), "hparams": self.hparams.values(), "problem_info": self.problem_info}
