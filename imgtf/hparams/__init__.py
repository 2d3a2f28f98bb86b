"""Hyperparameters: the typed container (hparams.py) and the training settings every set shares (training.py).
Importing this package registers nothing: the named sets live beside their model families
(imgtf/models/*/hparams_sets.py)."""
