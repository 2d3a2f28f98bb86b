import pytest

from imgtf.hparams.hparams import HParams, HParamsError, split_overrides


def make():
    return HParams(hidden_size=512, dropout=0.3, attention_type="local_1d", shared=True, query_shape=[8, 32])


def test_overrides_are_typed():
    hp = make()
    changed = hp.parse("hidden_size=64, dropout=0, attention_type=global,shared=false,query_shape=[4,16]")
    assert changed == {"hidden_size": 64, "dropout": 0.0, "attention_type": "global", "shared": False,
                       "query_shape": [4, 16]}
    assert isinstance(hp.dropout, float) and hp.hidden_size == 64 and hp.query_shape == [4, 16]


def test_unknown_key_names_key_and_suggests():
    with pytest.raises(HParamsError, match=r"unknown hparam 'hiden_size'.*hidden_size"):
        make().parse("hiden_size=64")


@pytest.mark.parametrize("text,key", [("hidden_size=0.5", "hidden_size"), ("hidden_size=abc", "hidden_size"),
                                      ("dropout=high", "dropout"), ("shared=maybe", "shared"),
                                      ("query_shape=[a,b]", "query_shape")])
def test_wrong_type_names_key(text, key):
    with pytest.raises(HParamsError, match=f"'{key}'"):
        make().parse(text)


def test_malformed_entry():
    with pytest.raises(HParamsError, match="malformed"):
        make().parse("hidden_size")
    assert split_overrides("a=1,b=[1,2],c=x") == [("a", "1"), ("b", "[1,2]"), ("c", "x")]


def test_json_round_trip():
    hp = make()
    assert HParams.from_dict(__import__("json").loads(hp.to_json())) == hp


def test_paper_sets(builtins):
    base = builtins.hparams("imagetransformer_cifar10_base")
    assert (base.num_decoder_layers, base.hidden_size, base.num_heads, base.filter_size, base.dropout) == (12, 512, 4, 2048, 0.3)
    assert (base.attention_type, base.query_block_length, base.memory_length, base.likelihood) == ("local_1d", 256, 512, "categorical")
    tiny = builtins.hparams("imagetransformer_cifar10_tiny")
    differing = {k for k, v in tiny.values().items() if base.get(k) != v}
    assert differing and differing <= {"hidden_size", "filter_size", "num_decoder_layers", "dropout", "query_block_length",
                                       "memory_length", "learning_rate", "learning_rate_warmup_steps", "num_heads", "batch_size"}
    assert builtins.hparams("imagetransformer_cifar10_base") is not base  # fresh object per call


def test_optimizers_adam_and_rmsprop(builtins):
    """The PixelRNN sets train with the paper's RMSProp, the Image Transformer sets with Adam; anything else is
    refused with the choices."""
    import keras

    from imgtf.train.optimization import build_optimizer

    rmsprop = build_optimizer(builtins.hparams("row_lstm_cifar10"))
    assert isinstance(rmsprop, keras.optimizers.RMSprop) and rmsprop.rho == 0.9
    assert isinstance(build_optimizer(builtins.hparams("imagetransformer_cifar10_tiny")), keras.optimizers.Adam)
    hp = builtins.hparams("pixelcnn_cifar10_tiny")
    hp.parse("optimizer=sgd")
    with pytest.raises(ValueError, match="optimizer='sgd': use adam or rmsprop"):
        build_optimizer(hp)
    with pytest.raises(ValueError, match="model's width .* has none: use learning_rate_schedule=constant"):
        build_optimizer(builtins.hparams("imagetransformer_cifar10_tiny"), model_width=None)


def _train_two_weights(optimizer, start, gradients, sparse=True):
    """The weights after `gradients` (dense gradient of the first weight, then rows and values of the second's
    gradient, given as IndexedSlices as an embedding's are, or summed into a dense tensor), in a traced step."""
    import keras
    import tensorflow as tf

    weights = [keras.Variable(w.astype("float32")) for w in start]

    @tf.function(autograph=False)
    def step(dense, indices, values):
        rows = tf.IndexedSlices(tf.cast(values, tf.float32), indices, dense_shape=tf.constant([10, 4]))
        optimizer.apply_gradients([(tf.cast(dense, tf.float32), weights[0]),
                                   (rows if sparse else tf.convert_to_tensor(rows), weights[1])])

    for dense, indices, values in gradients:
        step(dense, indices, values)
    optimizer.finalize_variable_values(weights)  # the Polyak averages, where kept
    return [w.numpy() for w in weights]


@pytest.mark.parametrize("name,settings", [
    ("Adam", dict(learning_rate=3e-3, beta_1=0.95, beta_2=0.9995, epsilon=1e-7, global_clipnorm=1.0)),
    ("Adam", dict(learning_rate=1e-3, use_ema=True, ema_momentum=0.5)),
    ("RMSprop", dict(learning_rate=1e-3, rho=0.95, epsilon=1e-8)),
    ("RMSprop", dict(learning_rate=1e-3, momentum=0.9))])
def test_the_optimizers_update_as_keras_does(name, settings):
    """imgtf's Adam (TensorFlow's fused kernel) and RMSProp (TensorFlow ops) give Keras's own optimizer's weights, step
    after step in a traced function, with clipping and Polyak averages: RMSProp bit for bit, Adam to float32
    rounding (1e-4 of the step: the fused kernel rounds in its own order). A sparse gradient (an embedding's) is its dense sum: where
    a row occurs twice in it, the second moment is that of the row's whole gradient, as for any other weight (Keras's
    own sparse path squares each occurrence apart; the rows here are distinct so the two agree)."""
    import keras
    import numpy as np

    from imgtf.train import optimization

    rs = np.random.RandomState(0)
    start = [rs.randn(40, 3), rs.randn(10, 4)]
    gradients = [(rs.randn(40, 3) * 10.0 ** rs.uniform(-8, 0, (40, 3)), rs.choice(10, 6, replace=False),
                  rs.randn(6, 4)) for _ in range(5)]
    theirs = _train_two_weights(getattr(keras.optimizers, name)(**settings), start, gradients)
    ours = _train_two_weights(getattr(optimization, name)(**settings), start, gradients)
    for a, b in zip(ours, theirs):
        if name == "RMSprop":
            np.testing.assert_array_equal(a, b)
        else:
            # float32 rounds 1 - beta_2**t to ~1e-4 of itself (beta_2 near 1), each implementation its own way
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-4 * settings["learning_rate"] * len(gradients))
    repeated = [(dense, np.array([1, 4, 1, 1, 7, 4]), values) for dense, _, values in gradients]
    unclipped = {k: v for k, v in settings.items() if k != "global_clipnorm"}  # Keras's norm counts each occurrence
    for a, b in zip(_train_two_weights(getattr(optimization, name)(**unclipped), start, repeated),
                    _train_two_weights(getattr(optimization, name)(**unclipped), start, repeated, sparse=False)):
        np.testing.assert_array_equal(a, b)


def test_exponential_decay_multiplies_the_rate_every_step(builtins):
    """PixelCNN++'s schedule (its authors' code): lr * 0.999995^step; a factor outside (0, 1] is refused."""
    from imgtf.train.optimization import build_optimizer

    optimizer = build_optimizer(builtins.hparams("pixelcnn_pp_cifar10"))
    schedule = optimizer._learning_rate
    assert optimizer.beta_1 == 0.95 and optimizer.beta_2 == 0.9995
    assert float(schedule(0)) == pytest.approx(1e-3, rel=1e-6)
    assert float(schedule(10000)) == pytest.approx(1e-3 * 0.999995 ** 10000, rel=1e-4)  # float32 powers
    hp = builtins.hparams("pixelsnail_cifar10_tiny")
    hp.parse("learning_rate_decay_rate=1.5")
    with pytest.raises(ValueError, match="learning_rate_decay_rate=1.5: the per-step factor must be in"):
        build_optimizer(hp)
