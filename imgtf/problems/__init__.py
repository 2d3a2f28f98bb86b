"""Problems (datasets + their features); importing this package registers the built-in ones."""
from imgtf.problems.problem import Problem  # noqa: F401
from imgtf.problems import celeba, cifar10, image_folder, imagenet  # noqa: F401  (register)
from imgtf.problems.image_folder import ImageFolderProblem  # noqa: F401
