"""Models, one package per family (its models, its base classes and its hparams sets); `imgtf.catalog` registers them.

Every model is a keras.Model built as `Model(hparams, problem_info)` that maps a features dict to its likelihood's
parameters (imgtf.models.base), so that the trainer, `fit`, the evaluator, the samplers and the exporter never
special-case a model.
"""
