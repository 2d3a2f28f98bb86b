"""The one place that knows what runs saved by earlier versions meant by a key they did not have.

A key added to a family's hparams changes what new sets do; a run (hparams.json) or a `.keras` file saved before the
key existed must keep computing what it computed. `upgrade` adds each absent key with its old behaviour's value, so
models read every key directly (`hp.key`) and never guess a default.
"""
from imgtf.hparams.hparams import HParams

# family -> {key: the value that reproduces runs saved before the key existed}
OLD_BEHAVIOUR = {
    "image_transformer": {
        "multiply_embedding_mode": "none",  # unit embeddings added unscaled
        "initializer_gain": 1.0,  # Keras's glorot_uniform
        "encoder_coordinates": "index",  # encoder inputs at their own grid indices
        "class_embedding": "unit",  # class embedding std d**-0.5 (times the embedding scale)
        "encoder_decoder_window": -1,  # encoder-decoder attention over the whole input
        "decoder_input_conditioning": "none",  # the encoder is read through attention only
        "num_mixtures": 10,
        "class_conditional": False,
        "num_encoder_layers": 0,
        "recompute": False,  # activations kept for the backward pass (a memory setting: results are the same)
    },
    "pixel_rnn": {
        "residual_connections": True,
        "skip_connections": False,
        "learn_initial_state": False,
        "recompute": False,
    },
}


def upgrade(values, family):
    """Model settings (a dict or HParams) with every key the family reads, as HParams: absent keys get their
    old-behaviour value (OLD_BEHAVIOUR)."""
    values = values.values() if isinstance(values, HParams) else dict(values)
    for key, old in OLD_BEHAVIOUR.get(family, {}).items():
        values.setdefault(key, old)
    return HParams(**values)
