"""Capability `log`: lines in the host's log, tagged with the plugin's name.

Granted by default (a manifest without `capabilities` grants `log`).

    from sipwarden_sdk import log
    log.info("loaded")                           # a fixed text
    log.debug("%s: %d users", number, len(ids))  # formatted only if kept

With arguments, the line is formatted (`message % args`) only when the
host's filter keeps that level: the Python counterpart of the Rust SDK's
`debug!` macros, since an f-string is built before the call whether or
not the line is written.
"""

import enum

from ._bindings import CapabilityNotGranted, binding

_log = binding("log")


class Level(enum.IntEnum):
    TRACE = 0
    DEBUG = 1
    INFO = 2
    WARN = 3
    ERROR = 4


_LEVELS = {level: _log.Level[level.name] for level in Level} if _log is not None else {}


def _require():
    if _log is None:
        raise CapabilityNotGranted("log")
    return _log


def enabled(level):
    """Whether a line at this level would be written."""
    return _require().enabled(_LEVELS[Level(level)])


def log(level, message, *args):
    """Log at `level`; with `args`, `message % args` only if it is kept."""
    bindings = _require()
    level = _LEVELS[Level(level)]
    if args:
        if not bindings.enabled(level):
            return
        message = message % args
    bindings.log(level, message)


def trace(message, *args):
    log(Level.TRACE, message, *args)


def debug(message, *args):
    log(Level.DEBUG, message, *args)


def info(message, *args):
    log(Level.INFO, message, *args)


def warn(message, *args):
    log(Level.WARN, message, *args)


def error(message, *args):
    log(Level.ERROR, message, *args)
