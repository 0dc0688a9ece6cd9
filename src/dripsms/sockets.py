"""A listening TCP socket, bound before a server starts (dripsms's and the sandbox's)."""

from __future__ import annotations

import socket


def listening_socket(host: str, port: int, *, backlog: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` and listening; closed again when it cannot bind
    (the :class:`OSError` is raised)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # An explicit IPPROTO_TCP, as asyncio's own sockets have: asyncio then sets TCP_NODELAY
    # on each accepted connection (without it, small answers wait ~40 ms for delayed ACKs).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    return sock
