"""How sure an evaluation is: the standard error and 95% confidence interval of a mean over images, and the paired
difference of two models on the same images (Student's t, its quantile computed here: no SciPy).

The interval is over the evaluated images, for the trained weights as they are: it says how far another draw of
as many images from the same distribution could move the mean, not how much retraining with another seed would."""
import math

import numpy as np

from imgtf import units

CONFIDENCE = 0.95


def _incomplete_beta(a, b, x):
    """The regularised incomplete beta function I_x(a, b), by its continued fraction (modified Lentz)."""
    if x <= 0.0 or x >= 1.0:
        return float(x >= 1.0)
    if x > (a + 1.0) / (a + b + 2.0):  # the fraction converges fast on this side only
        return 1.0 - _incomplete_beta(b, a, 1.0 - x)
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)) / a
    tiny, f, c, d = 1e-300, 1.0, 1.0, 0.0
    for i in range(400):
        m = i // 2
        if i == 0:
            numerator = 1.0
        elif i % 2 == 0:
            numerator = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
        else:
            numerator = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
        d = 1.0 + numerator * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + numerator / c
        c = c if abs(c) > tiny else tiny
        f *= c * d
        if abs(1.0 - c * d) < 1e-15:
            break
    return front * (f - 1.0)


def t_cdf(t, df):
    """P(T <= t) for Student's t with `df` degrees of freedom."""
    tail = 0.5 * _incomplete_beta(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t > 0 else tail


def t_quantile(p, df):
    """The p-quantile of Student's t (p in (0, 1)), by bisection on t_cdf to 1e-12."""
    if not 0.0 < p < 1.0 or df <= 0:
        raise ValueError(f"t_quantile(p={p}, df={df}): p must lie in (0, 1) and df be positive.")
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    low, high = 0.0, 1.0
    while t_cdf(high, df) < p:
        high *= 2.0
    while high - low > 1e-12 * max(1.0, high):
        middle = 0.5 * (low + high)
        low, high = (middle, high) if t_cdf(middle, df) < p else (low, middle)
    return 0.5 * (low + high)


def mean_interval(values, confidence=CONFIDENCE):
    """(mean, standard error, (low, high)) of `values` over their axis 0: SE = sample sd (n - 1) / sqrt(n), the
    interval mean -/+ t quantile x SE. With fewer than 2 values, or a non-finite one, SE and interval are None."""
    values = np.asarray(values, dtype=np.float64)
    mean = float(values.mean()) if values.size else math.nan
    if values.size < 2 or not np.all(np.isfinite(values)):
        return mean, None, None
    se = float(values.std(ddof=1) / math.sqrt(values.size))
    half = t_quantile(0.5 + confidence / 2.0, values.size - 1) * se
    return mean, se, (mean - half, mean + half)


def interval_fields(nll_nats, image_shape):
    """An evaluation's means over images with their standard errors and 95% intervals, as metrics.jsonl records them:
    bits_per_dim, bits_per_dim_se, bits_per_dim_ci95_low/high, and nats_per_image, nats_per_image_se,
    nats_per_image_ci95_low/high; SE and interval are None for a single image or a non-finite loss."""
    nll_nats = np.asarray(nll_nats, np.float64)
    fields = {}
    for name, values in (("bits_per_dim", units.bits_per_dim(nll_nats, image_shape)), ("nats_per_image", nll_nats)):
        mean, se, ci = mean_interval(values)
        fields.update({name: mean, f"{name}_se": se, f"{name}_ci95_low": ci and ci[0],
                       f"{name}_ci95_high": ci and ci[1]})
    return fields
