"""Training, evaluation and checkpointing (TensorFlow-specific: custom loops under tf.distribute)."""
