"""The one exception type the command line turns into a one-line error message."""


class PixelboardError(Exception):
    """A problem with the user's input or environment, explained in one line.

    The CLI prints ``Error: <message>`` and exits with status 1 instead of showing a traceback,
    so the message must name the file, ID or value at fault and, where possible, the fix.
    """
