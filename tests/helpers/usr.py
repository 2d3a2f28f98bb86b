"""A user's --usr_dir module: a CIFAR-10 problem and a tiny set under names of the test's choosing."""

TEMPLATE = '''
from imgtf.registry import register_hparams, register_problem
from imgtf.problems.cifar10 import ImageCifar10
from imgtf.models.image_transformer.hparams_sets import imagetransformer_cifar10_tiny

@register_problem
class {cls}(ImageCifar10):
    """A user's problem: CIFAR-10 under another name."""

@register_hparams
def {hp}():
    hp = imagetransformer_cifar10_tiny()
    hp.hidden_size = 32
    return hp
'''


def usr_module(cls, hp):
    """Source of a module registering problem class `cls` (snake_case of it is its name) and hparams set `hp`."""
    return TEMPLATE.format(cls=cls, hp=hp)
