"""The one exception type for a user's mistake; the CLI prints its message on one line and exits 2."""


class UserError(ValueError):
    """Bad input (a file, a value, an argument, a device): the message names it and says what is wrong."""
