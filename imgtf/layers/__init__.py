"""Backend-neutral Keras layers (keras.ops only) shared by the models."""
