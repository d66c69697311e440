"""Errors a user can act on.

`DeckError` is raised while a deck is validated: it names the dotted key, the
offending value and what is allowed.  The entry point turns it into one line on
stderr and exit status 2, on every rank.  `RunError` is a fault found while a
run is going (a particle lost, a NaN force): it names the step and the culprit.
"""


class DeckError(ValueError):
    """A deck key whose value is not allowed."""

    def __init__(self, key, value, allowed):
        self.key = key
        self.value = value
        self.allowed = allowed
        super().__init__(f"deck key '{key}' = {value!r}: {allowed}")

    def __reduce__(self):  # travels between ranks by pickle
        return (DeckError, (self.key, self.value, self.allowed))


class RunError(RuntimeError):
    """A fault during a run: carries the step and what went wrong."""

    def __init__(self, step, message):
        self.step = step
        self.message = message
        super().__init__(f"step {step}: {message}")

    def __reduce__(self):
        return (RunError, (self.step, self.message))


EXIT_DECK_ERROR = 2
EXIT_RUN_ERROR = 3
