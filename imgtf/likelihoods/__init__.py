"""Output distributions over 8-bit images; models pick one by the `likelihood` hparam.

A likelihood has `unit` ("subpixel": one distribution per channel, generated one channel at a time;
"pixel": one joint distribution per pixel), `params_per_unit`, `log_prob(params, values) -> [..., 3]` in
nats and `channel_distributions(params, values) -> [..., 3, 256]` log-probabilities.
"""
from imgtf.likelihoods.categorical import Categorical
from imgtf.likelihoods.dmol import DiscretizedMixtureOfLogistics

LIKELIHOODS = ("categorical", "dmol")


def get_likelihood(name, num_mixtures=10):
    if name == "categorical":
        return Categorical()
    if name == "dmol":
        return DiscretizedMixtureOfLogistics(num_mixtures)
    raise ValueError(f"Unknown likelihood {name!r}; available: {', '.join(LIKELIHOODS)}.")
