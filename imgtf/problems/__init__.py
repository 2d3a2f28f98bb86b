"""Problems (datasets and their features), one module per dataset; `imgtf.catalog` registers them.
A user's problem subclasses `imgtf.problems.problem.Problem` (or `image_folder.ImageFolderProblem`)."""
