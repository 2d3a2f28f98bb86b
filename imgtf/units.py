"""Units of likelihood: nats per image, bits per sub-pixel (bits/dim), and the one line that shows a result.

Every command, log line and results file reads its numbers through here, so a result reads the same wherever it is
printed: the problem's own unit first (Problem.reported_metric), with its standard error and 95% interval where
known, the other unit beside it."""
import math

LN2 = math.log(2.0)
UNIT_NAMES = {"bits_per_dim": "bits/dim", "nats_per_image": "nats/image"}
DIGITS = {"bits_per_dim": 4, "nats_per_image": 2}


def dims(image_shape):
    """Sub-pixels per image (H * W * C): the denominator of bits/dim."""
    count = 1
    for d in image_shape:
        count *= int(d)
    return count


def bits_per_dim(nats_per_image, image_shape):
    """Nats per image (a number or an array) in bits per sub-pixel."""
    return nats_per_image / (dims(image_shape) * LN2)


def nats_to_bits(nats):
    """Nats per sub-pixel (a training loss) in bits per sub-pixel."""
    return nats / LN2


def likelihood_text(bits, nats, reported="bits_per_dim", se=None, ci95=None):
    """One result as people read it, in the problem's unit `reported` first: `bits_per_dim 5.7511 +- 0.0188 (95% CI
    5.7141-5.7880; 12245.99 nats/image)`, `nats_per_image 92.56 +- 0.31 (95% CI ...; 0.1703 bits/dim)`. `se` and
    `ci95` (low, high) are in the reported unit; without them the line is
    `bits_per_dim 5.7511 (12245.99 nats/image)`."""
    values = {"bits_per_dim": bits, "nats_per_image": nats}
    other = "nats_per_image" if reported == "bits_per_dim" else "bits_per_dim"

    def show(unit, value):
        return f"{value:.{DIGITS[unit]}f}"

    text = f"{reported} {show(reported, values[reported])}"
    if se is not None:
        text += f" +- {show(reported, se)}"
    details = [f"{show(other, values[other])} {UNIT_NAMES[other]}"]
    if ci95 is not None and ci95[0] is not None:
        details.insert(0, f"95% CI {show(reported, ci95[0])}-{show(reported, ci95[1])}")
    return f"{text} ({'; '.join(details)})"


def record_text(entry):
    """`likelihood_text` of an evaluation record (a metrics.jsonl line), with the interval it holds."""
    unit = entry.get("reported") or "bits_per_dim"
    return likelihood_text(entry["bits_per_dim"], entry["nats_per_image"], unit, entry.get(f"{unit}_se"),
                           (entry.get(f"{unit}_ci95_low"), entry.get(f"{unit}_ci95_high")))
