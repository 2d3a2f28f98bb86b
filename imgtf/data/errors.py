"""Data errors whose messages say what was wrong, with which file, and what to do."""


class DataError(Exception):
    """Base class: the message is meant for the user as it stands."""


class DataNotFoundError(DataError, FileNotFoundError):
    pass


class CorruptDataError(DataError, ValueError):
    pass
