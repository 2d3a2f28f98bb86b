"""Building a registered model from names: the one place that turns (model, hparams, problem_info) into a built
keras.Model, and says which model a set was written for when they do not fit."""
from imgtf import registry
from imgtf.hparams.hparams import MissingHParamError


class ModelMismatchError(ValueError):
    """An hparams set used with a model it was not written for; the message names the right one."""


def make_model(model_name, hparams, problem_info, hparams_set=None):
    """The registered model `model_name` built from `hparams` (HParams or dict) for `problem_info`, variables
    created. A set written for another model family is named as such, not a KeyError/AttributeError."""
    cls = registry.models.get(model_name)
    try:
        model = cls(hparams, problem_info)
    except MissingHParamError as e:
        declared = registry.model_and_problem_of(hparams_set)[0] if hparams_set in registry.hparams_sets else None
        hint = (f" it is a set of model {declared!r} (--model={declared})" if declared and declared != model_name
                else " the set lacks a key this model reads")
        raise ModelMismatchError(f"hparams set {hparams_set!r} does not fit model {model_name!r} ({e}):{hint}. "
                                 "`imgtf-trainer --registry_help` lists every set with its model.") from None
    return model.build_variables()
