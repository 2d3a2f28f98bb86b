"""Discretised mixture of logistics over a pixel's 3 channels (Salimans et al. 2017; paper 3.4 'DMOL').

Per pixel and mixture component k: a mixture logit, 3 means, 3 log-scales and 3 coefficients (10 numbers),
with channel dependence  mean_G = mu_G + c0 * R,  mean_B = mu_B + c1 * R + c2 * G  (R, G scaled to [-1, 1]).
Values 0..255 are scaled to [-1, 1] and each gets the logistic mass of its bin of width 2/255; 0 and 255
take the whole tails, so the 256 probabilities of a channel sum to 1.

`log_prob` returns per-channel conditionals by the chain rule, log p(R) + log p(G|R) + log p(B|R,G),
using the mixture's posterior weights; their sum is exactly the joint log-likelihood of the pixel.
All math is float32 and uses log-sigmoid/softplus forms that stay finite for extreme parameters.
"""
import math

import tensorflow as tf
from keras import ops

from imgtf.likelihoods.likelihood import Likelihood
from imgtf.registry import register_likelihood
from imgtf.likelihoods import random_numbers

_LOG_SCALE_MIN = -7.0


def logistic_bin_log_prob(values, means, log_scales):
    """log P(value) under a logistic (mean, log-scale on the [-1, 1] scale) discretised to 256 bins, the edge bins
    taking the tails; values int-like, broadcast with means. Shared by every discretised-logistic likelihood."""
    x = ops.cast(values, "float32") / 127.5 - 1.0
    centered = x - means
    inv_s = ops.exp(-log_scales)
    plus_in = inv_s * (centered + 1.0 / 255.0)
    min_in = inv_s * (centered - 1.0 / 255.0)
    log_cdf_plus = plus_in - ops.softplus(plus_in)  # log sigmoid(plus_in), for value 0
    log_one_minus_cdf_min = -ops.softplus(min_in)  # log (1 - sigmoid(min_in)), for value 255
    # bin mass; in the upper tail use 1-sigmoid form, where float32 keeps the small differences
    cdf_delta = ops.where(min_in > 0, ops.sigmoid(-min_in) - ops.sigmoid(-plus_in),
                          ops.sigmoid(plus_in) - ops.sigmoid(min_in))
    mid_in = inv_s * centered
    log_pdf_mid = mid_in - log_scales - 2.0 * ops.softplus(mid_in)  # density at the bin centre
    interior = ops.where(cdf_delta > 1e-5, ops.log(ops.maximum(cdf_delta, 1e-12)),
                         log_pdf_mid - math.log(127.5))
    values = ops.cast(values, "float32")
    return ops.where(values < 0.5, log_cdf_plus, ops.where(values > 254.5, log_one_minus_cdf_min, interior))


@register_likelihood("dmol")
class DiscretizedMixtureOfLogistics(Likelihood):
    """Discretised mixture of `num_mixtures` logistics per pixel (hparam num_mixtures); params [..., H, W, 10K]."""

    unit = "pixel"

    def __init__(self, num_mixtures=10):
        self.num_mixtures = num_mixtures
        self.params_per_unit = 10 * num_mixtures

    @classmethod
    def from_hparams(cls, hp, num_levels=256):
        if num_levels != 256:
            raise ValueError(f"likelihood=dmol models 8-bit intensities (256 bins of width 2/255); this problem has "
                             f"num_levels={num_levels}: use likelihood=categorical (a {num_levels}-way softmax).")
        return cls(hp.num_mixtures)

    def check_image_shape(self, image_shape):
        if image_shape[-1] != 3:
            raise ValueError(f"likelihood=dmol models RGB pixels (its means of G and B depend on R, G); these images "
                             f"have {image_shape[-1]} channel(s): use likelihood=categorical.")

    def split(self, params):
        """[..., 10K] -> logits [..., K], means/log_scales/coeffs [..., 3, K]."""
        # split and unstack, not indexing, here and below: TensorFlow's gradient of a strided slice (StridedSliceGrad)
        # measured 13-16% of a PixelCNN++ training step's op time on this CPU; theirs are a concatenation and a stack
        k = self.num_mixtures
        params = ops.cast(params, "float32")
        logits, rest = ops.split(params, [k], axis=-1)
        rest = ops.reshape(rest, (*ops.shape(params)[:-1], 3, 3, k))
        means, log_scales, coeffs = ops.unstack(rest, 3, axis=-3)
        return logits, means, ops.maximum(log_scales, _LOG_SCALE_MIN), ops.tanh(coeffs)

    @staticmethod
    def scale(values):
        return ops.cast(values, "float32") / 127.5 - 1.0

    def channel_means(self, means, coeffs, values):
        """Means [..., 3, K] adjusted by the actual earlier channels of each pixel."""
        x_r, x_g, _ = ops.unstack(self.scale(values)[..., None], 3, axis=-2)  # each [..., 1]
        (m_r, m_g, m_b), (c_rg, c_rb, c_gb) = ops.unstack(means, 3, axis=-2), ops.unstack(coeffs, 3, axis=-2)
        return ops.stack([m_r, m_g + c_rg * x_r, m_b + c_rb * x_r + c_gb * x_g], axis=-2)

    def log_prob(self, params, values):
        """Per-channel chain-rule log-probabilities in nats: [..., 3] for params [..., 10K], values [..., 3]."""
        logits, means, log_scales, coeffs = self.split(params)
        adjusted = self.channel_means(means, coeffs, values)
        lp = logistic_bin_log_prob(ops.cast(values, "float32")[..., None], adjusted, log_scales)  # [..., 3, K]
        joint = ops.log_softmax(logits, axis=-1)
        previous = ops.logsumexp(joint, axis=-1)  # = 0
        out = []
        for lp_c in ops.unstack(lp, 3, axis=-2):
            joint = joint + lp_c
            total = ops.logsumexp(joint, axis=-1)
            out.append(total - previous)
            previous = total
        return ops.stack(out, axis=-1)

    def channel_distributions(self, params, values):
        """log p(channel c = v | earlier channels of the pixel = values): [..., 3, 256] (tests, sampling)."""
        logits, means, log_scales, coeffs = self.split(params)
        adjusted = self.channel_means(means, coeffs, values)  # [..., 3, K]
        candidates = ops.reshape(ops.arange(256, dtype="float32"), (256, 1))
        lp_all = logistic_bin_log_prob(candidates, adjusted[..., None, :], log_scales[..., None, :])  # [...,3,256,K]
        lp_actual = logistic_bin_log_prob(ops.cast(values, "float32")[..., None], adjusted, log_scales)
        weights = ops.log_softmax(logits, axis=-1)
        out = []
        for c in range(3):
            posterior = weights - ops.logsumexp(weights, axis=-1, keepdims=True)
            out.append(ops.logsumexp(posterior[..., None, :] + lp_all[..., c, :, :], axis=-1))
            weights = weights + lp_actual[..., c, :]
        return ops.stack(out, axis=-2)

    def sample(self, params, step, seed, temperature):
        """params [B, 10K] -> int32 [B, 3]: pick a mixture component (logits / temperature), then R, G, B in turn
        from its discretised logistics (scales x temperature), each later channel's mean shifted by the *quantised*
        earlier channels, as in `log_prob`: an exact draw from the discrete joint."""
        logits, means, log_scales, coeffs = self.split(tf.cast(params, tf.float32))
        noise = random_numbers.gumbel(tf.shape(logits), seed, step, 1)
        pick = tf.one_hot(tf.argmax(logits / temperature + noise, axis=-1), self.num_mixtures, dtype=tf.float32)
        means, log_scales, coeffs = (tf.reduce_sum(t * pick[:, None, :], axis=-1) for t in (means, log_scales, coeffs))
        u = random_numbers.uniform(tf.shape(means), seed, step, 2)
        noise = tf.exp(log_scales) * temperature * (tf.math.log(u) - tf.math.log(1.0 - u))

        def quantise(x):
            return tf.clip_by_value(tf.round((x + 1.0) * 127.5), 0.0, 255.0)

        r = quantise(means[:, 0] + noise[:, 0])
        g = quantise(means[:, 1] + coeffs[:, 0] * (r / 127.5 - 1.0) + noise[:, 1])
        b = quantise(means[:, 2] + coeffs[:, 1] * (r / 127.5 - 1.0) + coeffs[:, 2] * (g / 127.5 - 1.0) + noise[:, 2])
        return tf.cast(tf.stack([r, g, b], axis=-1), tf.int32)
