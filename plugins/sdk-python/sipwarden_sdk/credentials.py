"""Capability `credentials`: verify a request's digest credentials against
the host's store and issue challenges. No password or HA1 ever crosses into
the plugin: the host does the digest arithmetic.

    from sipwarden_sdk import credentials
    outcome = credentials.verify(request, "example.com", proxy=False)
    if isinstance(outcome, credentials.Verified):
        user = outcome.identity.username
    elif isinstance(outcome, (credentials.Missing, credentials.Stale)):
        stale = isinstance(outcome, credentials.Stale)
        return Verdict.respond(401, "Unauthorized", [
            Header("WWW-Authenticate", value) for value in credentials.challenge("example.com", stale)])
"""

from ._bindings import CapabilityNotGranted, binding

_credentials = binding("credentials")


class Identity:
    """Who a request was authenticated as."""

    __slots__ = ("username", "realm")

    def __init__(self, username, realm):
        self.username, self.realm = username, realm

    def __eq__(self, other):
        return isinstance(other, Identity) and (self.username, self.realm) == (other.username, other.realm)

    def __repr__(self):
        return f"Identity({self.username!r}, {self.realm!r})"


class Verification:
    """The outcome of checking a request's credentials: one of `Verified`,
    `Missing`, `Stale`, `Rejected`."""

    __slots__ = ()

    def __eq__(self, other):
        return type(other) is type(self) and all(
            getattr(self, name) == getattr(other, name) for name in self.__slots__)

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(repr(getattr(self, n)) for n in self.__slots__)})"


class Verified(Verification):
    """The credentials are valid for this request."""

    __slots__ = ("identity",)

    def __init__(self, identity):
        self.identity = identity


class Missing(Verification):
    """The request carries no credentials for this realm."""

    __slots__ = ()


class Stale(Verification):
    """Valid credentials with an expired nonce: challenge again with `stale`."""

    __slots__ = ()


class Rejected(Verification):
    """Wrong, forged, replayed or malformed credentials; `reason` says which."""

    __slots__ = ("reason",)

    def __init__(self, reason):
        self.reason = reason


def _require():
    if _credentials is None:
        raise CapabilityNotGranted("credentials")
    return _credentials


def verify(request, realm, proxy=False):
    """Check the `Authorization` header (`Proxy-Authorization` when `proxy`)
    of `request` for `realm`."""
    outcome = _require().verify(request, realm, proxy)
    if isinstance(outcome, _credentials.Verification_Verified):
        return Verified(Identity(outcome.value.username, outcome.value.realm))
    if isinstance(outcome, _credentials.Verification_Missing):
        return Missing()
    if isinstance(outcome, _credentials.Verification_Stale):
        return Stale()
    return Rejected(outcome.value)


def challenge(realm, stale=False):
    """`WWW-Authenticate` (or `Proxy-Authenticate`) values for a challenge,
    one per supported algorithm, strongest first."""
    return list(_require().challenge(realm, stale))
