"""The errors every layer of imgtf raises for the user: their messages say what was wrong and what to do.

They live at the bottom so that the data pipeline, the models' input contract and the commands share them without
importing each other."""


class DataError(Exception):
    """Base class of data errors: the message is meant for the user as it stands."""


class DataNotFoundError(DataError, FileNotFoundError):
    pass


class CorruptDataError(DataError, ValueError):
    pass


class InputError(ValueError):
    """Features or sampling arguments outside a model's input contract; the message says what to pass instead."""


# around a graph assertion's message of the input contract, which `imgtf.data.errors.reraise_from_pipeline` turns
# back into an InputError
INPUT_MARKER, INPUT_MARKER_END = "InputError: ", " (imgtf input contract)"


class TrainingError(RuntimeError):
    """A failure of training or evaluating a run that the user can act on; the message says what happened and what
    to do."""


class NonFiniteLossError(TrainingError):
    """The loss (or an evaluation) became NaN or infinite: the weights have diverged."""
