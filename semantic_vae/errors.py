"""One exception type for bad user input; the CLI prints its message on one line."""


class DataError(ValueError):
    """Bad input (a file, a value, an argument): the message names it and says what is wrong."""
