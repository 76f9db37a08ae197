"""Capability `directory`: look up an E.164 number (zero, one or several
User IDs, `sip:` or `sips:` URIs). The host normalises the number first
(visual separators, `tel:` URIs, a local number's phone-context).

    from sipwarden_sdk import directory
    try:
        users = directory.lookup("tel:+1-555-123-4567")
    except directory.InvalidNumber as why:
        return Verdict.reject(404, "Not Found")
    except directory.Unavailable as why:
        return Verdict.fail(f"directory: {why}")
"""

from ._bindings import CapabilityNotGranted, binding, err_type

_directory = binding("directory")
_Err = err_type()


class DirectoryError(Exception):
    """A look-up that did not answer; `str()` is the host's reason."""


class InvalidNumber(DirectoryError):
    """The number is not a valid E.164 number."""


class Unavailable(DirectoryError):
    """The directory could not be reached or did not answer in time."""


def lookup(number):
    """Every User ID registered for `number` (a list, possibly empty)."""
    if _directory is None:
        raise CapabilityNotGranted("directory")
    try:
        return list(_directory.lookup(number))
    except _Err as failed:
        error = failed.value
        if isinstance(error, _directory.LookupError_InvalidNumber):
            raise InvalidNumber(error.value) from None
        raise Unavailable(error.value) from None
