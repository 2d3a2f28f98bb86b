"""PixelSNAIL (Chen et al., ICML 2018): gated causal convolutions interleaved with causal self-attention over every
earlier pixel; a discretised logistic mixture per pixel (imgtf.likelihoods.dmol; on one-channel images, such as
binarized MNIST, a categorical per pixel).

One stream, ul, that sees the rows above and the pixels to the left (as PixelCNN++'s). `num_blocks` blocks, each:
`num_resnets` gated ResNets with [2, 2] down-right-shifted convolutions; keys (hparam attention_key_size) and
values (attention_value_size) from a 1x1 gated ResNet over [image, ul, position] and queries from one over
[ul, position] (position: row and column, each (i - n/2) / n); single-head attention of every pixel to the
strictly earlier ones (imgtf.layers.causal_attention); a 1x1 gated ResNet adding the attended values to ul.
Output: a 1x1 of elu(ul) to the mixture's parameters. This is the authors' `h12_noup_smallkey` configuration.
hparam weight_norm: every convolution and 1x1 weight-normalised, initialised from the first training batch
(imgtf.layers.weight_norm), as the authors' code; Polyak averaging is the training setting ema_decay. The authors'
code has no class conditioning; hparam class_conditional adds a class bias to every gated ResNet, as PixelCNN++'s.
"""
import keras
from keras import ops

from imgtf.layers.causal_attention import CausalAttention
from imgtf.layers.gated_resnet import GatedResnet
from imgtf.layers.nin import NiN
from imgtf.layers.shifted_conv import DownShift, ShiftedConv2D, right_shift
from imgtf.models.gated_cnn.base import RowCachedImageModel
from imgtf.registry import register_model


@register_model("pixelsnail")
@keras.saving.register_keras_serializable("imgtf")
class PixelSNAIL(RowCachedImageModel):
    """PixelSNAIL: blocks of gated ResNets and causal attention; DMOL."""

    def __init__(self, hparams, problem_info, **kwargs):
        super().__init__(hparams, problem_info, **kwargs)
        hp = self.hparams
        self.likelihood = self.build_likelihood(allowed_units=("pixel",))  # no channel masks (one channel: any)
        self.init_geometry()
        k = self.init_conditioning()
        f, dk, dv, c = hp.hidden_size, hp.attention_key_size, hp.attention_value_size, self.image_shape[-1]
        nl, p, wn = hp.nonlinearity, hp.dropout, dict(weight_norm=hp.weight_norm)

        self.shift = DownShift(name="down_shift")
        self.init_above = ShiftedConv2D(f, (1, 3), "down", name="init_above", **wn)
        self.init_left = ShiftedConv2D(f, (2, 1), "down_right", name="init_left", **wn)
        self.resnets = [GatedResnet(f, (2, 2), "down_right", nl, p, False, k, name=f"block_{b}_resnet_{i}", **wn)
                        for b in range(hp.num_blocks) for i in range(hp.num_resnets)]
        self.key_value_resnets = [GatedResnet(c + f + 2, (1, 1), "down", nl, p, False, k, name=f"block_{b}_kv_resnet",
                                              **wn) for b in range(hp.num_blocks)]
        self.key_value_nins = [NiN(dk + dv, name=f"block_{b}_kv", **wn) for b in range(hp.num_blocks)]
        self.query_resnets = [GatedResnet(f + 2, (1, 1), "down", nl, p, False, k, name=f"block_{b}_query_resnet", **wn)
                              for b in range(hp.num_blocks)]
        self.query_nins = [NiN(dk, name=f"block_{b}_query", **wn) for b in range(hp.num_blocks)]
        self.attention = CausalAttention(dk, dv, name="causal_attention")
        self.out_resnets = [GatedResnet(f, (1, 1), "down", nl, p, True, k, name=f"block_{b}_out_resnet", **wn)
                            for b in range(hp.num_blocks)]
        self.output_nin = NiN(self.likelihood.params_per_unit, name="output_nin", **wn)

    def position(self, run, images):
        """[1 or B, rows, W, 2]: (row - H/2) / H and (col - W/2) / W of each computed position."""
        h, w, _ = self.image_shape
        rows = (ops.cast(run.rows(h), images.dtype) - h / 2) / h
        cols = (ops.cast(ops.arange(w), images.dtype) - w / 2) / w
        grid = ops.stack([ops.broadcast_to(rows[:, None], (rows.shape[0], w)),
                          ops.broadcast_to(cols[None, :], (rows.shape[0], w))], axis=-1)
        return ops.broadcast_to(grid[None], (ops.shape(images)[0], rows.shape[0], w, 2))

    def network(self, run, images, label, training=False):
        args = dict(label=label, run=run, training=training)
        dk = self.hparams.attention_key_size
        x = ops.concatenate([images, ops.ones_like(images[..., :1])], axis=-1)
        ul = run(self.shift, run(self.init_above, x)) + right_shift(run(self.init_left, x))
        position = self.position(run, images)
        n = self.hparams.num_resnets
        for b in range(self.hparams.num_blocks):
            for resnet in self.resnets[b * n:(b + 1) * n]:
                ul = resnet(ul, **args)
            kv = self.key_value_nins[b](self.key_value_resnets[b](ops.concatenate([images, ul, position], -1), **args))
            query = self.query_nins[b](self.query_resnets[b](ops.concatenate([ul, position], -1), **args))
            key, value = ops.split(kv, [dk], axis=-1)  # a split's gradient is cheap (imgtf.layers.slicing)
            attended = run(self.attention, query, key=key, value=value)
            ul = self.out_resnets[b](ul, aux=attended, **args)
        return self.output_nin(ops.elu(ul))
