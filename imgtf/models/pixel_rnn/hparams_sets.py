"""Hparams sets of the PixelRNN paper's models (van den Oord et al. 2016), each targeting a paper result.

As in the paper: RMSProp, residual connections around every layer, learnable layer-to-output skip
connections ("used across the layers of all three networks"), learned initial recurrent states, batch 16 on
CIFAR-10. The paper set its
learning-rate schedules by hand per dataset and does not give them; imgtf uses a constant 1e-3."""
from imgtf.hparams.training import training_params
from imgtf.registry import register_hparams


def pixel_model_base():
    """Shared defaults of the PixelCNN / PixelRNN family (not registered: derive from it)."""
    hp = training_params()
    hp.update(batch_size=16, learning_rate=1e-3, learning_rate_schedule="constant", optimizer="rmsprop")
    for key, value in dict(
        likelihood="categorical",  # one per sub-pixel (imgtf.likelihoods): a softmax over the levels
        hidden_size=128,  # h: residual stream 2h
        num_layers=15,  # masked 3x3 layers (PixelCNN) or LSTM layers
        kernel_size=3,
        first_kernel_size=7,  # the mask-A first layer
        output_size=1024,  # ReLU + 1x1 output layer width
        residual_connections=True,  # each layer adds its input to its output
        skip_connections=True,  # the output layers read the sum of 1x1 projections of every layer's output
        learn_initial_state=True,  # LSTMs start from learned (h, c) vectors (PixelCNN has no recurrent state)
        recompute=False,  # recompute each layer's activations in the backward pass: less memory, more compute
    ).items():
        hp.add(key, value)
    return hp


def pixel_tiny(hp, num_layers=2):
    """Shrink a set of this family to CPU size (h=24, 96-wide output), keeping its model."""
    return hp.update(hidden_size=24, num_layers=num_layers, output_size=96, batch_size=8)


@register_hparams(model="pixelcnn", problem="image_cifar10")
def pixelcnn_cifar10():
    """PixelRNN paper: PixelCNN on CIFAR-10, 15 masked 3x3 layers, h=128, 1024-wide output: 3.14 bits/dim test."""
    return pixel_model_base()


@register_hparams(model="pixelcnn", problem="image_cifar10")
def pixelcnn_cifar10_tiny():
    """CPU-sized PixelCNN (3 masked 3x3 layers, h=24, 96-wide output) for tests and quick runs."""
    return pixel_tiny(pixelcnn_cifar10(), num_layers=3)


@register_hparams(model="row_lstm", problem="image_cifar10")
def row_lstm_cifar10():
    """PixelRNN paper: Row LSTM on CIFAR-10, 12 layers, h=128: 3.07 bits/dim test."""
    hp = pixel_model_base()
    hp.update(num_layers=12)
    return hp


@register_hparams(model="row_lstm", problem="image_cifar10")
def row_lstm_cifar10_tiny():
    """CPU-sized Row LSTM (2 layers, h=24, 96-wide output)."""
    return pixel_tiny(row_lstm_cifar10())


@register_hparams(model="diagonal_bilstm", problem="image_cifar10")
def diagonal_bilstm_cifar10():
    """PixelRNN paper: Diagonal BiLSTM on CIFAR-10, 12 layers, h=128: 3.00 bits/dim test (the paper's best)."""
    hp = pixel_model_base()
    hp.update(num_layers=12)
    return hp


@register_hparams(model="diagonal_bilstm", problem="image_cifar10")
def diagonal_bilstm_cifar10_tiny():
    """CPU-sized Diagonal BiLSTM (2 layers, h=24, 96-wide output)."""
    return pixel_tiny(diagonal_bilstm_cifar10())


@register_hparams(model="row_lstm", problem="image_imagenet32")
def row_lstm_imagenet32():
    """PixelRNN paper: Row LSTM on ImageNet 32x32, 12 layers, h=384, batch 64: 3.86 bits/dim validation."""
    hp = pixel_model_base()
    hp.update(num_layers=12, hidden_size=384, batch_size=64)
    return hp


@register_hparams(model="row_lstm", problem="image_imagenet32")
def row_lstm_imagenet32_tiny():
    """CPU-sized ImageNet 32x32 Row LSTM."""
    return pixel_tiny(row_lstm_imagenet32())


@register_hparams(model="row_lstm", problem="image_imagenet64")
def row_lstm_imagenet64():
    """PixelRNN paper: Row LSTM on ImageNet 64x64, 4 layers, h=512, batch 32, no residual connections:
    3.63 bits/dim."""
    hp = pixel_model_base()
    hp.update(num_layers=4, hidden_size=512, batch_size=32, residual_connections=False)
    return hp


@register_hparams(model="row_lstm", problem="image_imagenet64")
def row_lstm_imagenet64_tiny():
    """CPU-sized ImageNet 64x64 Row LSTM."""
    return pixel_tiny(row_lstm_imagenet64())


def multiscale_base(hp):
    """Add the Multi-Scale PixelRNN's keys to a Row LSTM set: both networks take its sizes."""
    hp.add("subsample_factor", 2)  # the small image is x[::2, ::2]
    hp.add("upsample_features", 32)  # c: features of the upsampled conditioning map
    return hp


@register_hparams(model="multiscale_pixelrnn", problem="image_imagenet64")
def multiscale_pixelrnn_imagenet64():
    """PixelRNN paper: Multi-Scale PixelRNN on ImageNet 64x64 (a 32x32 unconditional Row LSTM, a 64x64 one
    conditioned on it; each 4 layers, h=512, batch 32). The paper shows its samples and reports no bits/dim."""
    return multiscale_base(row_lstm_imagenet64())


@register_hparams(model="multiscale_pixelrnn", problem="image_imagenet64")
def multiscale_pixelrnn_imagenet64_tiny():
    """CPU-sized Multi-Scale PixelRNN."""
    return pixel_tiny(multiscale_pixelrnn_imagenet64())


@register_hparams(model="multiscale_pixelrnn", problem="image_cifar10")
def multiscale_pixelrnn_cifar10():
    """Multi-Scale PixelRNN on CIFAR-10 (16x16 then 32x32, each a 12-layer h=128 Row LSTM): no paper figure;
    compared with the single-scale models by bench/compare_models.py."""
    return multiscale_base(row_lstm_cifar10())


@register_hparams(model="multiscale_pixelrnn", problem="image_cifar10")
def multiscale_pixelrnn_cifar10_tiny():
    """CPU-sized Multi-Scale PixelRNN on CIFAR-10."""
    return pixel_tiny(multiscale_pixelrnn_cifar10())


# -- binarized MNIST (nats per image; uniform: 784 ln 2 = 543.4) -------------------------------------------------
@register_hparams(model="diagonal_bilstm", problem="image_binarized_mnist")
def diagonal_bilstm_binarized_mnist():
    """PixelRNN paper, Table 4: Diagonal BiLSTM on binarized MNIST (the fixed binarization), 7 layers, h=16, ReLU +
    1x1 output layers of 32 maps, RMSProp, batch 16: 79.20 nats (1 layer of h=32: 80.75). The paper gives no learning
    rate: the family's constant 1e-3."""
    hp = pixel_model_base()
    hp.update(num_layers=7, hidden_size=16, output_size=32, batch_size=16)
    return hp


@register_hparams(model="diagonal_bilstm", problem="image_binarized_mnist")
def diagonal_bilstm_binarized_mnist_1h():
    """The recipe of the shipped preset diagonal_bilstm_binarized_mnist: the paper's network and optimiser
    (diagonal_bilstm_binarized_mnist, 79.20 nats) trained for one hour on two CPU cores (about 10k steps of 16), with
    Polyak averaging of the weights (decay 0.9995: the last ~2k steps) for the evaluation and the preset. Batch 16 as
    in the paper: over the first two minutes here it reached 157.7 nats against 212.1 at batch 48, at the same 54
    images/s."""
    hp = diagonal_bilstm_binarized_mnist()
    hp.update(ema_decay=0.9995)
    return hp


@register_hparams(model="pixelcnn", problem="image_binarized_mnist")
def pixelcnn_binarized_mnist():
    """pytorch-generative's PixelCNN (its README: 81.45 nats on dynamically binarized MNIST after 457 epochs): a 7x7
    mask-A layer, 15 residual blocks on a 32-map stream (1x1 to 16, masked 3x3, 1x1 back), no skip connections, ReLU +
    1x1 head of 32; Adam 1e-3, the rate multiplied by 0.999977 every step, batch 256."""
    hp = pixel_model_base()
    hp.update(num_layers=15, hidden_size=16, output_size=32, skip_connections=False, batch_size=256,
              optimizer="adam", optimizer_adam_beta1=0.9, optimizer_adam_beta2=0.999, optimizer_adam_epsilon=1e-8,
              learning_rate=1e-3, learning_rate_schedule="exponential_decay", learning_rate_decay_rate=0.999977)
    return hp


@register_hparams(model="pixelcnn", problem="image_binarized_mnist")
def pixelcnn_binarized_mnist_2h():
    """The recipe of the shipped preset pixelcnn_binarized_mnist: pixelcnn_binarized_mnist's network trained for two
    hours on two CPU cores (about 2M images), toward pytorch-generative's 81.45 nats (dynamic binarization, 457
    epochs) with a target of 85. Batch 32 instead of 256 (measured here over the first two minutes: 94.3 nats against
    99.9 at batch 256, at the same images/s), the rate decayed to about 0.15 of 1e-3 over the 64k steps of two hours,
    and Polyak averaging of the weights (decay 0.9995) for the evaluation and the preset."""
    hp = pixelcnn_binarized_mnist()
    hp.update(batch_size=32, learning_rate_decay_rate=0.99997, ema_decay=0.9995)
    return hp
