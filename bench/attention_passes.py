"""What one masked attention layer costs on this machine, forward and backward, at the tiny Image Transformer's shapes
(batch 8, 24 query blocks of 128 units, 256 keys each, 4 heads of 16 channels): the layouts and maskings compared,
and each single pass over the [query, key] logits (25.2 million floats) timed alone.

    python bench/attention_passes.py

The layer's forms compute the same values (the table shows their largest difference from the first): einsum over
[..., Q, h, d] operands with the mask selected (`where(mask, logits, -1e9)`, imgtf's form before issue 44), the same
with the mask added as a bias, heads-first batched matmuls with the bias (imgtf's form now), the same on 3-D
operands, and the first and third compiled with XLA. Reference for the passes: a copy of the logits (`x + 1`), which
only reads and writes them; a pass that costs about as much is bound by memory, not arithmetic.
"""
import argparse
import time

import numpy as np

from common import record, run_with_results

B, NB, LQ, M, H, D = 8, 24, 128, 256, 4, 16


def best_ms(fn, *args, repeats=5, rounds=3):
    value = fn(*args)
    (value[0] if isinstance(value, (list, tuple)) else value).numpy()
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(repeats):
            value = fn(*args)
        (value[0] if isinstance(value, (list, tuple)) else value).numpy()
        best = min(best, (time.perf_counter() - start) / repeats)
    return 1000 * best


def layer_forms(tf):
    mask = np.tril(np.ones((LQ, M), bool), k=M - LQ)  # each query sees the block before and its own causal part
    mask5 = tf.constant(np.broadcast_to(mask, (NB, LQ, M))[None, :, None])  # [1, nb, 1, Q, K]
    bias5 = tf.constant(np.where(mask5.numpy(), 0.0, -1e9).astype("float32"))

    def einsum_where(q, k, v):
        logits = tf.where(mask5, tf.einsum("...qhd,...khd->...hqk", q * 0.25, k), -1e9)
        return tf.einsum("...hqk,...khd->...qhd", tf.nn.softmax(logits, axis=-1), v)

    def einsum_bias(q, k, v):
        logits = tf.einsum("...qhd,...khd->...hqk", q * 0.25, k) + bias5
        return tf.einsum("...hqk,...khd->...qhd", tf.nn.softmax(logits, axis=-1), v)

    def heads_first(q, k, v):
        q, v = tf.transpose(q * 0.25, (0, 1, 3, 2, 4)), tf.transpose(v, (0, 1, 3, 2, 4))
        logits = tf.matmul(q, tf.transpose(k, (0, 1, 3, 4, 2))) + bias5
        return tf.transpose(tf.matmul(tf.nn.softmax(logits, axis=-1), v), (0, 1, 3, 2, 4))

    def heads_first_3d(q, k, v):
        flat = lambda t, n: tf.reshape(tf.transpose(t, (0, 1, 3, 2, 4)), (-1, n, D))  # noqa: E731
        logits = tf.reshape(tf.matmul(flat(q * 0.25, LQ), flat(k, M), transpose_b=True), (B, NB, H, LQ, M)) + bias5
        out = tf.matmul(tf.reshape(tf.nn.softmax(logits, axis=-1), (-1, LQ, M)), flat(v, M))
        return tf.transpose(tf.reshape(out, (B, NB, H, LQ, D)), (0, 1, 3, 2, 4))

    return [("einsum, mask selected (before)", einsum_where, False), ("einsum, mask as a bias", einsum_bias, False),
            ("heads-first matmuls, bias (now)", heads_first, False), ("heads-first 3-D matmuls, bias",
                                                                      heads_first_3d, False),
            ("einsum, mask selected, XLA", einsum_where, True), ("heads-first matmuls, bias, XLA", heads_first, True)]


def main():
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    import imgtf  # noqa: F401  (TensorFlow's environment defaults: oneDNN on)
    import tensorflow as tf

    rng = np.random.default_rng(0)
    q = tf.constant(rng.normal(size=(B, NB, LQ, H, D)).astype("float32"))
    k = tf.constant(rng.normal(size=(B, NB, M, H, D)).astype("float32"))
    v = tf.constant(rng.normal(size=(B, NB, M, H, D)).astype("float32"))

    def gradients(form, xla):
        @tf.function(jit_compile=xla)
        def run(q, k, v):
            with tf.GradientTape() as tape:
                tape.watch([q, k, v])
                out = form(q, k, v)
                loss = tf.reduce_sum(out * out)
            return tape.gradient(loss, [q, k, v])
        return run

    print(f"One attention layer's forward and backward pass: batch {B}, {NB} query blocks of {LQ}, {M} keys each, "
          f"{H} heads of {D}: logits of {B * NB * H * LQ * M / 1e6:.1f} million floats. Best of 3 rounds of 5 calls.\n")
    print("| form | ms | against the first | largest difference of the gradients |")
    print("|---|---:|---:|---:|")
    reference, first, forms = None, None, {}
    for name, form, xla in layer_forms(tf):
        fn = gradients(form, xla)
        grads = [g.numpy() for g in fn(q, k, v)]
        reference = reference or grads
        diff = max(float(np.abs(a - b).max() / np.abs(b).max()) for a, b in zip(grads, reference))
        ms = best_ms(fn, q, k, v)
        first = first or ms
        forms[name] = ms
        print(f"| {name} | {ms:.1f} | {first / ms:.2f}x | {diff:.1e} |")

    n = B * NB * H
    qt = tf.constant(rng.normal(size=(n, LQ, D)).astype("float32"))
    kt = tf.constant(rng.normal(size=(n, M, D)).astype("float32"))
    logits = tf.constant(rng.normal(size=(n, LQ, M)).astype("float32"))
    bias = tf.constant(np.zeros((NB, 1, LQ, M), "float32"))
    passes = [("copy (x + 1): the reference", lambda x: x + 1.0, (logits,)),
              ("q k^T (writes the logits)", lambda a, b: tf.matmul(a, b, transpose_b=True), (qt, kt)),
              ("weights v (reads them)", lambda w, b: tf.matmul(w, b), (logits, kt)),
              ("weights^T q (a gradient: reads them transposed)", lambda w, a: tf.matmul(w, a, transpose_a=True),
               (logits, qt)),
              ("softmax", tf.nn.softmax, (logits,)),
              ("add the mask bias", lambda x: tf.reshape(tf.reshape(x, (B, NB, H, LQ, M)) + bias, (n, LQ, M)),
               (logits,)),
              ("multiply (x * x)", lambda x: x * x, (logits,)), ("exp", tf.exp, (logits,)),
              ("sum over keys", lambda x: tf.reduce_sum(x, -1), (logits,))]
    size_mb = logits.shape.num_elements() * 4 / 1e6
    print(f"\nEach pass over the logits alone ({size_mb:.0f} MB; compiled graph, oneDNN), best of 3 rounds of 5 "
          "calls:\n")
    print("| pass | ms | against the copy |")
    print("|---|---:|---:|")
    copy, timed = None, {}
    for name, fn, args in passes:
        ms = best_ms(tf.function(fn), *args)
        copy = copy or ms
        timed[name] = ms
        print(f"| {name} | {ms:.1f} | {ms / copy:.2f}x |")
    record(forms_ms=forms, passes_ms=timed)


if __name__ == "__main__":
    run_with_results("attention_passes", main)
