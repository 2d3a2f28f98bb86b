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


def save_run_naming(builtins, usr, run, cls, hp):
    """A run directory `run` created with --usr_dir=`usr` (holding `usr_module(cls, hp)`, already imported), its
    names unregistered afterwards, as a later process that has not imported the folder finds them."""
    from imgtf.registry import snake_case
    from imgtf.train import run_dir

    problem = snake_case(cls)
    try:
        spec = run_dir.resolve(str(run), problem, "image_transformer", hp, usr_dir=str(usr))
        run_dir.save(spec, str(run))
    finally:
        builtins.problems.unregister(problem)
        builtins.hparams_sets.unregister(hp)
