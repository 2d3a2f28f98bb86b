"""Output distributions over 8-bit sub-pixels; models pick one by the `likelihood` hparam."""
from imgtf.likelihoods.categorical import Categorical

LIKELIHOODS = {"categorical": Categorical}


def get_likelihood(name):
    try:
        return LIKELIHOODS[name]()
    except KeyError:
        raise ValueError(f"Unknown likelihood {name!r}; available: {', '.join(sorted(LIKELIHOODS))}.") from None
