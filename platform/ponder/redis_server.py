"""A loopback redis-server owned by this process (local runs and tests; production uses a
configured Redis URL). AOF persistence is on, data under the state dir."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

from ponder import env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalRedis:
    """Start with start(), stop with stop(); url is redis://127.0.0.1:PORT/0."""

    def __init__(
        self, data_dir: Path | None = None, port: int | None = None, appendfsync: str = "everysec"
    ) -> None:
        self.data_dir = data_dir or env.state_dir() / "redis"
        self.port = port or free_port()
        self.appendfsync = appendfsync
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout_s: float = 10.0) -> LocalRedis:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        command = [
            env.redis_server_binary(),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.data_dir),
            "--appendonly",
            "yes",
            "--appendfsync",
            self.appendfsync,
            "--save",
            "",
            "--daemonize",
            "no",
            "--logfile",
            str(self.data_dir / "redis.log"),
        ]
        try:
            self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        except FileNotFoundError as error:
            raise RuntimeError(
                "redis-server not found: run scripts/setup.sh (installs Debian's redis-server)"
            ) from error
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"redis-server exited; see {self.data_dir / 'redis.log'}")
            if self.ping():
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server did not answer on port {self.port}")

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None
