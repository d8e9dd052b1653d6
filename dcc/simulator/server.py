"""Run an ASGI app with uvicorn in a background thread on a free loopback port (demo and tests)."""

from __future__ import annotations

import logging
import socket
import threading
import time
from types import TracebackType
from typing import TYPE_CHECKING

import uvicorn
from fastapi import FastAPI

if TYPE_CHECKING:
    from dcc.simulator.tls import SimulatorTls


class RunningServer:
    """A uvicorn server running in a daemon thread. `url` has no trailing slash."""

    def __init__(self, server: uvicorn.Server, thread: threading.Thread, host: str, port: int, *,
                 tls: bool = False) -> None:
        self._server = server
        self._thread = thread
        self.host = host
        self.port = port
        self.tls = tls

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    def stop(self, timeout: float = 10.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(timeout)

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def start_in_thread(
    app: FastAPI, host: str = "127.0.0.1", port: int = 0, *, timeout: float = 10.0, log_level: str = "warning",
    tls: SimulatorTls | None = None,
) -> RunningServer:
    """Start `app` on `host:port` (port 0: a free port chosen by the OS) and wait until it listens; with `tls`,
    over HTTPS with a client certificate from `tls.ca` required."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    actual_port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, host=host, port=actual_port, log_level=log_level, lifespan="off", access_log=False,
        **(tls.uvicorn_options() if tls is not None else {}),
    )
    server = uvicorn.Server(config)
    quiet_simulated_faults()
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"uvicorn-{actual_port}", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive():
            sock.close()
            raise RuntimeError(f"Le serveur n'a pas démarré sur {host}:{actual_port}.")
        if time.monotonic() > deadline:
            server.should_exit = True
            thread.join(timeout)
            sock.close()
            raise RuntimeError(f"Le serveur n'a pas démarré sur {host}:{actual_port} en {timeout:.0f} s.")
        time.sleep(0.01)
    return RunningServer(server, thread, host, actual_port, tls=tls is not None)


class _SimulatedFaultFilter(logging.Filter):
    """Drops uvicorn's traceback of a connection the simulator cut on purpose (fault injection)."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return type(exc).__name__ != "SimulatedConnectionDrop"


def quiet_simulated_faults() -> None:
    """Keep injected connection drops out of the logs (call again after a library reconfigures logging)."""
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _SimulatedFaultFilter) for f in logger.filters):
        logger.addFilter(_SimulatedFaultFilter())
