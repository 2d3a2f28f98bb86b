"""Layers (and models) whose weights all belong to the layers they hold."""


class BuiltAtFirstCall:
    """Mixed into a keras.layers.Layer (or Model) that holds layers and has no weights of its own: the layers it holds
    build themselves at its first call. Without a `build` of its own, Keras would first trace `call` symbolically to
    find unbuilt state, and again inside that trace for every such layer it holds, before the eager call that builds
    them anyway (docs/results/timing_build.md: `bench/timing.py --measure=build`)."""

    def build(self, input_shape=None):
        """Nothing to create here (see the class)."""
