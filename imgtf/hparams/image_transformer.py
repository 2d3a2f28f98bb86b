"""Hparams sets of the Image Transformer (Parmar et al., 2018), each targeting one paper result."""
from imgtf.hparams.base import basic_params
from imgtf.registry import register_hparams


def image_transformer_base():
    """Shared defaults of the Image Transformer family (not registered: derive from it)."""
    hp = basic_params()
    for key, value in dict(
        hidden_size=512,
        filter_size=2048,  # feed-forward inner size
        num_heads=4,
        num_decoder_layers=12,
        attention_key_channels=0,  # size of the attention projections; 0 = hidden_size
        dropout=0.3,  # after attention and after the feed-forward layer (paper eq. 1, 2)
        attention_dropout=0.0,  # on the attention weights
        relu_dropout=0.0,  # inside the feed-forward layer
        attention_type="local_1d",  # local_1d | global
        query_block_length=256,  # l_q: positions (sub-pixels) per 1D query block
        memory_length=512,  # total positions each 1D query block attends to, its own block included
        position_encoding="sinusoidal",  # sinusoidal | learned
        likelihood="categorical",
    ).items():
        hp.add(key, value)
    return hp


@register_hparams
def imagetransformer_cifar10_base():
    """Paper 5.1: CIFAR-10, categorical, 1D local (l_q=256, memory 512), 12x512, 4 heads: 2.90 bits/dim test."""
    return image_transformer_base()


@register_hparams
def imagetransformer_cifar10_tiny():
    """CPU-sized 1D local categorical model: trains to well below 8 bits/dim in minutes on 2 cores."""
    hp = imagetransformer_cifar10_base()
    hp.update(
        hidden_size=64,
        filter_size=128,
        num_heads=4,
        num_decoder_layers=2,
        dropout=0.0,
        query_block_length=128,
        memory_length=256,
        batch_size=8,
        learning_rate=0.5,
        learning_rate_warmup_steps=200,
    )
    return hp
