"""The one kind of error a user is shown as it is: input we cannot use, said plainly."""


class InputError(ValueError):
    """Input that cannot be used. The message says what was wrong and how to write it right."""
