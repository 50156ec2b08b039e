"""Free ports on 127.0.0.1 for the servers the tests start (the one place that picks them).

Prefer `bound_socket()` and hand the socket to the server (uvicorn's `Server.run(sockets=[...])`): the port stays
taken from the moment it is chosen. `free_port()` is for a port number alone, such as a URL where nothing listens.
"""

from __future__ import annotations

import socket

HOST = "127.0.0.1"


def bound_socket() -> socket.socket:
    """A TCP socket bound to a free port of 127.0.0.1, not yet listening; the caller closes it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST, 0))
    except BaseException:
        sock.close()
        raise
    return sock


def port_of(sock: socket.socket) -> int:
    return int(sock.getsockname()[1])


def free_port() -> int:
    """A port of 127.0.0.1 nothing listens on at the time of the call (the socket that found it is closed)."""
    with bound_socket() as sock:
        return port_of(sock)
