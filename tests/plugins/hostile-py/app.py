"""A hostile policy in Python, to prove that sipwarden contains what a
Python plugin does wrong, as tests/plugins/hostile does for Rust.

It behaves (lets the request through) unless the request carries
`X-Hostile`, so one test can show a misbehaving call followed by a
correctly served request on the same plugin. What it does when triggered is
chosen by `mode` in its configuration:

- `loop`: spin forever; only the host's deadline stops it.
- `grow`: allocate without bound, keeping every block (across calls too);
  only the host's memory cap stops it.
- `raise`: raise an exception that nothing catches, which traps.
- `file`: try to read files of the host. 500 `escaped: file` if any read
  succeeds, else 403 `file refused: <the first error>`.
- `socket`: try to open a TCP connection to 127.0.0.1:9, then to send a UDP
  datagram there. 500 `escaped: socket` if either works, else 403
  `socket refused: <the TCP error>`.
- `refuse-config`: refuse the configuration in `init`.

The refusal texts start as the Rust plugin's do (`file refused`, `socket
refused`), so the containment tests read both the same way.
"""

# Imported at build time, into componentize-py's snapshot, as a plugin that
# meant to use it would: what `socket` mode tests is whether a connection
# can be made, not whether the module loads. (A module first imported at
# call time is not found: the standard library is only there during the
# build.)
import socket

import sipwarden_sdk
from sipwarden_sdk import ConfigError, Verdict, config

MODES = ("loop", "grow", "raise", "file", "socket", "refuse-config")
CONFIG = config.Schema(config.Field("mode", config.Enum(*MODES)))

#: Files every Linux host has, and ways a path could reach them from a
#: working directory: reading any of them is an escape.
HOST_FILES = ("/etc/passwd", "/etc/hostname", "/proc/self/environ", "/proc/self/status", "../../../../etc/passwd",
              "/root/.bashrc")


def reason_phrase(text):
    """An exception's text as a reason phrase: one line, no control
    characters, not longer than a status line wants."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())[:200]


class Hostile(sipwarden_sdk.Policy):
    config_schema = CONFIG

    def init(self, config):
        if config["mode"] == "refuse-config":
            raise ConfigError("this configuration is refused on purpose")
        self.mode = config["mode"]
        self.hoard = []  # grows across calls in `grow` mode; never given back

    def decide(self, request):
        if request.header("X-Hostile") is None:
            return Verdict.pass_()
        if self.mode == "loop":
            n = 0
            while True:
                n += 1
        if self.mode == "grow":
            while True:
                block = bytearray(1 << 20)
                block[::4096] = b"\x01" * len(block[::4096])  # touch every page
                self.hoard.append(block)
        if self.mode == "raise":
            raise RuntimeError("hostile plugin raises on purpose")
        if self.mode == "file":
            return self.read_files()
        return self.connect()

    def read_files(self):
        first_error = None
        for path in HOST_FILES:
            try:
                with open(path, "rb") as leaked:
                    leaked.read(1)
            except Exception as error:  # noqa: BLE001 - every way of failing is a refusal
                first_error = first_error or f"{path}: {error}"
                continue
            return Verdict.reject(500, "escaped: file")
        return Verdict.reject(403, reason_phrase(f"file refused: {first_error}"))

    def connect(self):
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as stream:
                stream.connect(("127.0.0.1", 9))
        except Exception as tcp_error:  # noqa: BLE001 - every way of failing is a refusal
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as datagram:
                    datagram.sendto(b"hostile", ("127.0.0.1", 9))
            except Exception:  # noqa: BLE001
                return Verdict.reject(403, reason_phrase(f"socket refused: {type(tcp_error).__name__}: {tcp_error}"))
            return Verdict.reject(500, "escaped: socket")
        return Verdict.reject(500, "escaped: socket")


Policy = sipwarden_sdk.export(Hostile)
