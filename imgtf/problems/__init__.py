"""Problems (datasets + their features); importing this package registers the built-in ones."""
from imgtf.problems.problem import Problem  # noqa: F401
from imgtf.problems import cifar10  # noqa: F401  (registers)
