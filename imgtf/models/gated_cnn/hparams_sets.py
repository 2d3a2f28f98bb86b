"""Hparams sets of Gated PixelCNN, PixelCNN++ and PixelSNAIL, each naming the paper result it targets and where its
numbers come from (docs/research/baseline_configurations.md has the sources, with what could not be confirmed).

The `_tiny` sets shrink a paper set to CPU size for tests, benchmarks and quick runs; their optimiser settings are
the paper set's unless the docstring says otherwise."""
from imgtf.hparams.training import training_params
from imgtf.registry import register_hparams


def gated_cnn_base():
    """Model keys every set of this family has (not registered: derive from it)."""
    hp = training_params()
    hp.update(learning_rate=1e-3, learning_rate_schedule="constant", optimizer_adam_beta1=0.9,
              optimizer_adam_beta2=0.999, optimizer_adam_epsilon=1e-8)
    for key, value in dict(
        hidden_size=128,  # feature maps per layer (Gated PixelCNN: p; PixelCNN++ / PixelSNAIL: filters)
        class_conditional=False,  # a class-dependent bias in every layer (needs a `label` feature)
        weight_norm=False,  # every convolution and 1x1 as g * v / ||v||, g and b set from the first training batch
    ).items():
        hp.add(key, value)
    return hp


# -- Gated PixelCNN ---------------------------------------------------------------------------------------
def gated_pixelcnn_base():
    hp = gated_cnn_base()
    for key, value in dict(likelihood="categorical", num_layers=20, kernel_size=5, first_kernel_size=7,
                           output_size=1024, skip_connections=True).items():
        hp.add(key, value)
    return hp


@register_hparams(model="gated_pixelcnn", problem="image_imagenet32")
def gated_pixelcnn_imagenet32():
    """Gated PixelCNN paper, ImageNet 32x32: 3.83 bits/dim test (train 3.77). 20 layers of 384 maps, 5x5 filters
    (paper section 3.1, recalled: unconfirmed offline); the first layer 7x7 and the 1024-wide 1x1 output layers
    follow the PixelRNN paper's PixelCNN (unconfirmed for this model). Trained with 200K synchronous updates on 32
    GPUs, total batch 128 (recalled); the optimiser and learning rate are not given: Adam 1e-3 here."""
    hp = gated_pixelcnn_base()
    hp.update(hidden_size=384, batch_size=4)  # 4 per replica x 32 GPUs = the paper's batch of 128
    return hp


@register_hparams(model="gated_pixelcnn", problem="image_cifar10")
def gated_pixelcnn_cifar10():
    """Gated PixelCNN paper, CIFAR-10: 3.03 bits/dim test (train 2.90). The paper gives no CIFAR-10 architecture
    nor optimiser; this is its ImageNet model (20 layers, 5x5, 1024-wide output) at 128 maps, batch 16, Adam 1e-3."""
    hp = gated_pixelcnn_base()
    hp.update(batch_size=16)
    return hp


@register_hparams(model="gated_pixelcnn", problem="image_cifar10")
def gated_pixelcnn_cifar10_tiny():
    """CPU-sized Gated PixelCNN: 3 layers of 24 maps, 3x3 (first 7x7), 96-wide output, batch 8."""
    hp = gated_pixelcnn_cifar10()
    hp.update(hidden_size=24, num_layers=3, kernel_size=3, output_size=96, batch_size=8)
    return hp


@register_hparams(model="gated_pixelcnn", problem="image_cifar10")
def gated_pixelcnn_cifar10_cond():
    """Class-conditional Gated PixelCNN on CIFAR-10 (paper section 3.2 conditions on ImageNet classes: 3.77 vs 3.83
    bits/dim unconditional on ImageNet 32, "very small" gain); CIFAR-10 conditional is not reported."""
    hp = gated_pixelcnn_cifar10()
    hp.update(class_conditional=True)
    return hp


# -- PixelCNN++ ---------------------------------------------------------------------------------------------
def pixelcnn_pp_base():
    hp = gated_cnn_base()
    hp.update(learning_rate=1e-3, learning_rate_schedule="exponential_decay", learning_rate_decay_rate=0.999995,
              optimizer_adam_beta1=0.95, optimizer_adam_beta2=0.9995, optimizer_adam_epsilon=1e-8, batch_size=12)
    for key, value in dict(likelihood="dmol", num_resnets=5, num_resolutions=3, num_mixtures=10,
                           nonlinearity="concat_elu", dropout=0.0).items():  # dropout: on each gated ResNet's residual path
        hp.add(key, value)
    return hp


@register_hparams(model="pixelcnn_pp", problem="image_cifar10")
def pixelcnn_pp_cifar10():
    """PixelCNN++ paper, CIFAR-10: 2.92 bits/dim test. 160 feature maps, the authors' code default: the paper text
    says 192, but the 53M parameters later papers cite for PixelCNN++ are this network's at 160 (53.6M here; 192
    gives 77.2M). 5 gated ResNets per resolution, 3 resolutions, 10 logistics, concat_elu, dropout 0.5. Optimiser
    from the authors' code: Adam lr 1e-3, beta1 0.95, beta2 0.9995, the rate multiplied by 0.999995 every step,
    batch 12 per GPU on 8 GPUs (paper era). Every convolution and 1x1 weight-normalised with data-dependent
    initialisation, and evaluated and sampled with Polyak averages of decay 0.9995, as the authors' code."""
    hp = pixelcnn_pp_base()
    hp.update(hidden_size=160, dropout=0.5, weight_norm=True, ema_decay=0.9995)
    return hp


@register_hparams(model="pixelcnn_pp", problem="image_cifar10")
def pixelcnn_pp_cifar10_cond():
    """PixelCNN++ paper section 3.2, class-conditional CIFAR-10: 2.94 bits/dim test (no better than unconditional)."""
    hp = pixelcnn_pp_cifar10()
    hp.update(class_conditional=True)
    return hp


@register_hparams(model="pixelcnn_pp", problem="image_cifar10")
def pixelcnn_pp_cifar10_tiny():
    """CPU-sized PixelCNN++: 32 maps, 1 gated ResNet per resolution, 3 resolutions, 10 logistics, no dropout
    (short runs do not overfit), batch 8; weight-normalised as the paper set, but no Polyak averaging: a decay of
    0.9995 averages over the last ~2000 steps, longer than the runs this set is for."""
    hp = pixelcnn_pp_cifar10()
    hp.update(hidden_size=32, num_resnets=1, dropout=0.0, batch_size=8, ema_decay=0.0)
    return hp


# -- PixelSNAIL ---------------------------------------------------------------------------------------------
def pixelsnail_base():
    hp = gated_cnn_base()
    hp.update(learning_rate=1e-3, learning_rate_schedule="exponential_decay", learning_rate_decay_rate=0.999998,
              optimizer_adam_beta1=0.95, optimizer_adam_beta2=0.9995, optimizer_adam_epsilon=1e-6, batch_size=8)
    for key, value in dict(likelihood="dmol", num_blocks=12, num_resnets=4, num_mixtures=10, nonlinearity="elu",
                           attention_key_size=16, attention_value_size=128, dropout=0.0).items():
        hp.add(key, value)
    return hp


@register_hparams(model="pixelsnail", problem="image_cifar10")
def pixelsnail_cifar10():
    """PixelSNAIL paper, CIFAR-10: 2.85 bits/dim test. The authors' `h12_noup_smallkey`: 12 blocks of 4 gated
    ResNets, 256 maps, elu, one attention head with keys of 16 and values of 128, 10 logistics, dropout 0.5; Adam
    lr 1e-3, beta1 0.95, beta2 0.9995, eps 1e-6, the rate multiplied by 0.999998 every step, batch 8 per GPU (the
    GPU count is not stated). Weight normalisation with data-dependent initialisation and Polyak averages of
    decay 0.9995 for evaluation and sampling, as the authors' code."""
    hp = pixelsnail_base()
    hp.update(hidden_size=256, dropout=0.5, weight_norm=True, ema_decay=0.9995)
    return hp


@register_hparams(model="pixelsnail", problem="image_imagenet32")
def pixelsnail_imagenet32():
    """PixelSNAIL paper, ImageNet 32x32: 3.80 bits/dim test. As CIFAR-10 but 32 logistics and no dropout (the
    authors' README); weight normalisation and Polyak averaging as CIFAR-10's."""
    hp = pixelsnail_base()
    hp.update(hidden_size=256, num_mixtures=32, dropout=0.0, weight_norm=True, ema_decay=0.9995)
    return hp


@register_hparams(model="pixelsnail", problem="image_cifar10")
def pixelsnail_cifar10_tiny():
    """CPU-sized PixelSNAIL: 2 blocks of 1 gated ResNet, 32 maps, keys 16 and values 32, 10 logistics, no
    dropout, batch 8; weight-normalised as the paper set, no Polyak averaging (as pixelcnn_pp_cifar10_tiny)."""
    hp = pixelsnail_cifar10()
    hp.update(hidden_size=32, num_blocks=2, num_resnets=1, attention_value_size=32, dropout=0.0, ema_decay=0.0)
    return hp


# -- binarized MNIST (nats per image; uniform: 784 ln 2 = 543.4) -------------------------------------------------
def binarized_mnist(hp, batch_size, decay):
    """pytorch-generative's recipe for its MNIST models: Adam 1e-3 (betas 0.9, 0.999), the rate multiplied by
    `decay` every step, a 2-way categorical per pixel (its Bernoulli), no dropout."""
    hp.update(likelihood="categorical", batch_size=batch_size, learning_rate=1e-3,
              learning_rate_schedule="exponential_decay", learning_rate_decay_rate=decay, optimizer_adam_beta1=0.9,
              optimizer_adam_beta2=0.999, optimizer_adam_epsilon=1e-8)
    if "dropout" in hp.values():
        hp.dropout = 0.0
    return hp


@register_hparams(model="gated_pixelcnn", problem="image_binarized_mnist")
def gated_pixelcnn_binarized_mnist():
    """pytorch-generative's Gated PixelCNN (its README: 81.50 nats on dynamically binarized MNIST after 457 epochs):
    a 7x7 first layer and 10 gated 3x3 layers of 128 maps, ReLU + 1x1 head of 32; batch 128, decay 0.9999 per step."""
    hp = binarized_mnist(gated_pixelcnn_base(), batch_size=128, decay=0.9999)
    hp.update(num_layers=11, hidden_size=128, kernel_size=3, first_kernel_size=7, output_size=32)
    return hp


@register_hparams(model="pixelsnail", problem="image_binarized_mnist")
def pixelsnail_binarized_mnist():
    """pytorch-generative's PixelSNAIL (its README: 78.61 nats on dynamically binarized MNIST after 457 epochs, the
    best of its autoregressive models): 8 blocks of 2 gated ResNets, 64 maps, attention keys 4 and values 32; a
    categorical output instead of the CIFAR sets' logistic mixture; batch 128, decay 0.999977 per step."""
    hp = binarized_mnist(pixelsnail_base(), batch_size=128, decay=0.999977)
    hp.update(hidden_size=64, num_blocks=8, num_resnets=2, attention_key_size=4, attention_value_size=32)
    return hp
