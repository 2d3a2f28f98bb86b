"""PixelCNN++ (Salimans et al., ICLR 2017): a discretised logistic mixture per whole pixel (imgtf.likelihoods.dmol;
on one-channel images also a categorical), shifted convolutions instead of masks, gated ResNet blocks with
concatenated ELU and dropout, and two passes over three resolutions with short-cut connections between them.

Two streams: u sees the rows above ([2, 3] down-shifted convolutions), ul the rows above and the pixels to the
left ([2, 2] down-right-shifted convolutions, reading u through a 1x1). First pass: `num_resnets` gated ResNets per
stream at 32x32, a strided convolution to 16x16, again, to 8x8, again; every block's output is kept. Second pass,
from 8x8 back up with causal transposed convolutions: num_resnets blocks at 8x8 and num_resnets + 1 at 16x16 and
32x32, each reading (as its auxiliary input) the kept first-pass output of the same position in reverse order,
ul also the new u. Output: a 1x1 of elu(ul) to the mixture's 10 * num_mixtures parameters. Class-conditional
(hparam class_conditional): every gated ResNet adds its own class-dependent bias (paper section 3.2).
hparam weight_norm: every convolution and 1x1 weight-normalised, initialised from the first training batch
(imgtf.layers.weight_norm), as the authors' code; Polyak averaging is the training setting ema_decay.
"""
import keras
from keras import ops

from imgtf.layers.gated_resnet import GatedResnet
from imgtf.layers.nin import NiN
from imgtf.layers.shifted_conv import DownShift, ShiftedConv2D, ShiftedConvTranspose2D, right_shift
from imgtf.models.gated_cnn.base import RowCachedImageModel
from imgtf.registry import register_model


@register_model("pixelcnn_pp")
@keras.saving.register_keras_serializable("imgtf")
class PixelCNNPlusPlus(RowCachedImageModel):
    """PixelCNN++: two streams of gated ResNets over 3 resolutions (down, then up with short-cuts); DMOL."""

    def __init__(self, hparams, problem_info, **kwargs):
        super().__init__(hparams, problem_info, **kwargs)
        hp = self.hparams
        self.likelihood = self.build_likelihood(allowed_units=("pixel",))  # no channel masks (one channel: any)
        self.init_geometry()
        num_classes = self.init_conditioning()
        f, n, levels = hp.hidden_size, hp.num_resnets, hp.num_resolutions
        h, w, _ = self.image_shape
        if h % 2 ** (levels - 1) or w % 2 ** (levels - 1):
            raise ValueError(f"pixelcnn_pp halves the image {levels - 1} time(s) (hparam num_resolutions={levels}): "
                             f"height and width must be multiples of {2 ** (levels - 1)}, not {h}x{w}.")
        self.levels = levels
        wn = dict(weight_norm=hp.weight_norm)

        def resnet(kind, name, has_aux):
            shape = (2, 3) if kind == "down" else (2, 2)
            return GatedResnet(f, shape, kind, hp.nonlinearity, hp.dropout, has_aux, num_classes, name=name, **wn)

        self.shift = DownShift(name="down_shift")
        self.u_init = ShiftedConv2D(f, (2, 3), "down", name="u_init", **wn)
        self.ul_init_above = ShiftedConv2D(f, (1, 3), "down", name="ul_init_above", **wn)
        self.ul_init_left = ShiftedConv2D(f, (2, 1), "down_right", name="ul_init_left", **wn)
        first, second = [], []
        for level in range(levels):
            first += [(resnet("down", f"first_u_{level}_{i}", False), resnet("down_right", f"first_ul_{level}_{i}", True))
                      for i in range(n)]
        for level in reversed(range(levels)):
            count = n if level == levels - 1 else n + 1
            second += [(resnet("down", f"second_u_{level}_{i}", True), resnet("down_right", f"second_ul_{level}_{i}", True))
                       for i in range(count)]
        # flat lists (nested lists of layers are not tracked for export)
        self.first_u, self.first_ul = [u for u, _ in first], [ul for _, ul in first]
        self.second_u, self.second_ul = [u for u, _ in second], [ul for _, ul in second]
        self.down_u = [ShiftedConv2D(f, (2, 3), "down", strides=2, name=f"down_u_{i}", **wn) for i in range(levels - 1)]
        self.down_ul = [ShiftedConv2D(f, (2, 2), "down_right", strides=2, name=f"down_ul_{i}", **wn)
                        for i in range(levels - 1)]
        self.up_u = [ShiftedConvTranspose2D(f, (2, 3), "down", name=f"up_u_{i}", **wn) for i in range(levels - 1)]
        self.up_ul = [ShiftedConvTranspose2D(f, (2, 2), "down_right", name=f"up_ul_{i}", **wn) for i in range(levels - 1)]
        self.output_nin = NiN(self.likelihood.params_per_unit, name="output_nin", **wn)

    def network(self, run, images, label, training=False):
        args = dict(label=label, run=run, training=training)
        x = ops.concatenate([images, ops.ones_like(images[..., :1])], axis=-1)  # 1s: image, not padding
        u = run(self.shift, run(self.u_init, x))
        ul = run(self.shift, run(self.ul_init_above, x)) + right_shift(run(self.ul_init_left, x))
        kept_u, kept_ul = [u], [ul]
        n, level, block = self.hparams.num_resnets, 0, 0
        for level in range(self.levels):
            for _ in range(n):
                u = self.first_u[block](u, level=level, **args)
                ul = self.first_ul[block](ul, aux=u, level=level, **args)
                kept_u.append(u)
                kept_ul.append(ul)
                block += 1
            if level < self.levels - 1:
                u, ul = run(self.down_u[level], u, level), run(self.down_ul[level], ul, level)
                kept_u.append(u)
                kept_ul.append(ul)
        u, ul = kept_u.pop(), kept_ul.pop()
        block = 0
        for level in reversed(range(self.levels)):
            for _ in range(n if level == self.levels - 1 else n + 1):
                u = self.second_u[block](u, aux=kept_u.pop(), level=level, **args)
                ul = self.second_ul[block](ul, aux=ops.concatenate([u, kept_ul.pop()], axis=-1), level=level, **args)
                block += 1
            if level > 0:
                u, ul = run(self.up_u[level - 1], u, level), run(self.up_ul[level - 1], ul, level)
        return self.output_nin(ops.elu(ul))
