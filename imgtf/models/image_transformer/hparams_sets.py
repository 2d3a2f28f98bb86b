"""Hparams sets of the Image Transformer (Parmar et al., 2018), each targeting one paper result.

Every set derives from `image_transformer_base` and changes a few values; every paper set has a `_tiny`
variant of the same structure sized for a 2-core CPU (tests, quick runs). Results are bits/dim.
"""
from imgtf.hparams.training import training_params
from imgtf.registry import register_hparams


def image_transformer_base():
    """Shared defaults of the Image Transformer family (not registered: derive from it)."""
    hp = training_params()
    for key, value in dict(
        hidden_size=512,
        filter_size=2048,  # feed-forward inner size
        num_heads=4,
        num_decoder_layers=12,
        num_encoder_layers=0,  # > 0 only for img2img_transformer (super-resolution)
        attention_key_channels=0,  # size of the attention projections; 0 = hidden_size
        dropout=0.3,  # after attention and after the feed-forward layer (paper eq. 1, 2)
        attention_dropout=0.0,  # on the attention weights
        relu_dropout=0.0,  # inside the feed-forward layer
        recompute=False,  # recompute each block's activations in the backward pass: less memory, ~1/3 more compute
        attention_type="local_1d",  # local_1d | local_2d | global
        query_block_length=256,  # local_1d: l_q, generation units per query block
        memory_length=512,  # local_1d: units each query block attends to, its own block included
        query_shape=[8, 32],  # local_2d: query block rows x columns (columns of the [H, W*3] sub-pixel grid)
        memory_flange=[8, 16],  # local_2d: memory extends the block by h_m rows above, w_m columns left and right
        position_encoding="sinusoidal",  # sinusoidal | learned
        likelihood="categorical",  # categorical | dmol
        num_mixtures=10,  # dmol only
        class_conditional=False,  # add a learned class embedding to every position (needs a `label` feature)
        # variance multiplier of the Glorot-uniform kernels (attention, feed-forward, output layers): 0.2 as
        # Tensor2Tensor's image models and the reference PyTorch port (1.0 = Keras's glorot_uniform)
        initializer_gain=0.2,
        # img2img_transformer: encoder-decoder attention sees the input pixels within this many low-resolution
        # pixels of the target unit's own (-1: every input position)
        encoder_decoder_window=-1,
        # img2img_transformer: "nearest" / "bilinear" = every decoder input also gets the encoder's output upsampled
        # to its target (the input pixel it lies in / the 2x2 around it); none = read through attention only
        decoder_input_conditioning="none",
    ).items():
        hp.add(key, value)
    return hp


def tiny(hp):
    """Shrink a set to CPU size, keeping its structure (attention type, likelihood, conditioning): d=64,
    feed-forward 128, 4 heads, 2 decoder layers (1 encoder layer), no dropout, batch 8; a 100-step warm-up to a peak
    learning rate of 0.4 * 64**-0.5 * 100**-0.5 = 5e-3 (paper sets: 7e-4 after 4,000 steps; Adam's best rate grows
    as the model narrows). Measurements behind the rate: docs/research/2026-12-02-tiny-recipes.md."""
    hp.update(hidden_size=64, filter_size=128, num_heads=4, num_decoder_layers=2, dropout=0.0, batch_size=8,
              learning_rate=0.4, learning_rate_warmup_steps=100, attention_key_channels=0)
    if hp.num_encoder_layers:
        hp.num_encoder_layers = 1
    return hp


@register_hparams(model="image_transformer", problem="image_cifar10")
def imagetransformer_cifar10_base():
    """Paper 5.1: CIFAR-10, categorical, 1D local (l_q=256, memory 512), 12x512, 4 heads: 2.90 bits/dim test."""
    return image_transformer_base()


@register_hparams(model="image_transformer", problem="image_cifar10")
def imagetransformer_cifar10_tiny():
    """CPU-sized imagetransformer_cifar10_base (tiny()), query blocks 128 / memory 256 to keep several blocks."""
    hp = tiny(imagetransformer_cifar10_base())
    hp.update(query_block_length=128, memory_length=256)
    return hp


@register_hparams(model="image_transformer", problem="image_cifar10")
def imagetransformer_cifar10_dmol():
    """Paper 5.1: CIFAR-10, DMOL (10 mixtures), 14 layers, d=256, attention in 512, 8 heads, ff 512: 2.90 test."""
    hp = image_transformer_base()
    hp.update(likelihood="dmol", num_mixtures=10, num_decoder_layers=14, hidden_size=256, attention_key_channels=512,
              num_heads=8, filter_size=512, dropout=0.2, position_encoding="learned")
    return hp


@register_hparams(model="image_transformer", problem="image_cifar10")
def imagetransformer_cifar10_dmol_tiny():
    """CPU-sized imagetransformer_cifar10_dmol (tiny()): attention in 128, 5 mixtures, query blocks 64 / memory
    128 pixels (the paper set's 256 / 512 units are sub-pixels)."""
    hp = tiny(imagetransformer_cifar10_dmol())
    hp.update(attention_key_channels=128, query_block_length=64, memory_length=128, num_mixtures=5)
    return hp


@register_hparams(model="image_transformer", problem="image_cifar10")
def imagetransformer_cifar10_cond():
    """Paper 5.2: class-conditional CIFAR-10, the 8-layer model (d=512, 8 heads, ff 1024, dropout 0.1);
    likelihood about that of the unconditional 3.03 model."""
    hp = image_transformer_base()
    hp.update(class_conditional=True, num_decoder_layers=8, num_heads=8, filter_size=1024, dropout=0.1)
    return hp


@register_hparams(model="image_transformer", problem="image_cifar10")
def imagetransformer_cifar10_cond_tiny():
    """CPU-sized imagetransformer_cifar10_cond (tiny()), query blocks 128 / memory 256: it starts as the
    unconditional tiny set (its class embedding starts at zero)."""
    hp = tiny(imagetransformer_cifar10_cond())
    hp.update(query_block_length=128, memory_length=256)
    return hp


@register_hparams(model="image_transformer", problem="image_imagenet32")
def imagetransformer_imagenet32_base():
    """Paper 5.1: ImageNet 32x32, categorical, 1D local, 12x512, 8 heads, ff 2048, dropout 0.1: 3.77 validation
    (with checkpoint averaging)."""
    hp = image_transformer_base()
    hp.update(num_heads=8, dropout=0.1)
    return hp


@register_hparams(model="image_transformer", problem="image_imagenet32")
def imagetransformer_imagenet32_tiny():
    """CPU-sized imagetransformer_imagenet32_base (tiny()), query blocks 128 / memory 256."""
    hp = tiny(imagetransformer_imagenet32_base())
    hp.update(query_block_length=128, memory_length=256)
    return hp


@register_hparams(model="img2img_transformer", problem="img2img_celeba")
def img2img_transformer_celeba_1d():
    """Paper 5.3: CelebA 8->32 super-resolution, 1D local decoder (l_q=128, memory 256), 12 decoder and
    4 encoder layers, d=512, 8 heads, ff 2048, dropout 0.1: 2.68 bits/dim dev."""
    hp = image_transformer_base()
    hp.update(num_encoder_layers=4, num_heads=8, dropout=0.1, query_block_length=128, memory_length=256)
    return hp


@register_hparams(model="img2img_transformer", problem="img2img_celeba")
def img2img_transformer_celeba_1d_tiny():
    """CPU-sized img2img_transformer_celeba_1d (tiny()): encoder-decoder attention sees only the input pixel under
    the target unit (window 0), every decoder input also gets that pixel's encoding (nearest), learning rate 0.6: a
    2-layer model with the paper's attention over the whole input does not learn where to look in 300 steps
    (docs/research/2026-12-02-tiny-recipes.md)."""
    hp = tiny(img2img_transformer_celeba_1d())
    hp.update(query_block_length=64, memory_length=128, encoder_decoder_window=0, decoder_input_conditioning="nearest",
              learning_rate=0.6)
    return hp


@register_hparams(model="img2img_transformer", problem="img2img_celeba")
def img2img_transformer_celeba_2d():
    """Paper 5.3: as celeba_1d with a 2D local decoder, query blocks 8x32, memory 16x64 (8 rows above,
    16 columns left and right): 2.61 bits/dim dev."""
    hp = img2img_transformer_celeba_1d()
    hp.update(attention_type="local_2d", query_shape=[8, 32], memory_flange=[8, 16])
    return hp


@register_hparams(model="img2img_transformer", problem="img2img_celeba")
def img2img_transformer_celeba_2d_tiny():
    """CPU-sized img2img_transformer_celeba_2d (tiny()): query blocks 4x24 (4 rows of 8 whole pixels), memory 4 rows
    above and 12 columns left and right; window 0, nearest decoder-input conditioning and learning rate 0.6 as
    img2img_transformer_celeba_1d_tiny."""
    hp = tiny(img2img_transformer_celeba_2d())
    hp.update(query_shape=[4, 24], memory_flange=[4, 12], encoder_decoder_window=0,
              decoder_input_conditioning="nearest", learning_rate=0.6)
    return hp


@register_hparams(model="image_transformer", problem="image_binarized_mnist")
def imagetransformer_binarized_mnist():
    """Binarized MNIST, 1D local attention over the 784 units (query blocks of 7 rows, memory 14 rows), sized as
    pytorch-generative's ImageGPT (its README: 79.17 nats on dynamically binarized MNIST after 457 epochs, global
    attention): 8 layers of 64, 2 heads, feed-forward 256, no dropout, batch 64, categorical. The paper reports no
    MNIST result; the rate is the tiny sets' (peak 0.4 * 64**-0.5 * 100**-0.5 = 5e-3, ImageGPT's 5e-3)."""
    hp = image_transformer_base()
    hp.update(hidden_size=64, filter_size=256, num_heads=2, num_decoder_layers=8, dropout=0.0, batch_size=64,
              query_block_length=196, memory_length=392, learning_rate=0.4, learning_rate_warmup_steps=100)
    return hp
