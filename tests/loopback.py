"""A uvicorn server on 127.0.0.1 in a thread, on a socket bound before the server starts, so no
other process can take its port between choosing it and listening on it."""
from __future__ import annotations

import socket
import threading
import time


class LoopbackServer:
    """`with LoopbackServer(app) as srv:` serves `app` at `srv.url` until the block ends."""

    def __init__(self, app, *, sock: socket.socket | None = None, start_timeout: float = 30.0):
        self.app, self.sock, self.start_timeout = app, sock, start_timeout

    def __enter__(self) -> "LoopbackServer":
        import uvicorn

        if self.sock is None:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       daemon=True)
        self.thread.start()
        deadline = time.monotonic() + self.start_timeout
        while not self.server.started:
            assert self.thread.is_alive(), "the server stopped while starting"
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.02)
        return self

    def wait_ready(self, path: str = "/ready", timeout: float = 60.0) -> None:
        """Until GET `path` answers 200 (the model loads in a thread after startup)."""
        import httpx

        deadline = time.monotonic() + timeout
        while httpx.get(self.url + path).status_code != 200:
            assert time.monotonic() < deadline, f"{path} never answered 200"
            time.sleep(0.05)

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()
