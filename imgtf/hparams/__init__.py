"""Hyperparameters: the typed container (hparams.py), the training settings every set shares (training.py) and the
values that runs saved by earlier versions imply (compat.py). Importing this package registers nothing: the named
sets live beside their model families (imgtf/models/*/hparams_sets.py)."""
