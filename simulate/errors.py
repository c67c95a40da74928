"""The simulator's one exception type, kept apart so the CLI can name it without loading OpenCV."""


class SimulationError(RuntimeError):
    """The simulation cannot go on: a faces folder that cannot make the class, a process that failed
    or a step that timed out. The message says which, in one sentence."""
