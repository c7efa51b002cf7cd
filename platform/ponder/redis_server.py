"""A loopback redis-server owned by this process (local runs and tests; production uses a
configured Redis URL). AOF persistence is on, data under the state dir.

Locked down like the production one: the default user locked and Ponder's own ACL user
(`redis_acl.py`: only the commands Ponder sends, only `ponder:*` keys) with a password
(random per start unless given; clients get it inside `url`), a memory cap with
`noeviction` — a full Redis refuses writes rather than evicting the outcome log — and the
administrative commands (CONFIG, DEBUG, FLUSHALL, ACL, …) renamed away besides.
Secrets go into a 0600 config file, never on the command line."""

from __future__ import annotations

import secrets
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

from ponder import env
from ponder.redis_acl import USERNAME, acl_config_lines
from ponder.security.local_credentials import write_secret


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalRedis:
    """Start with start(), stop with stop(); url is redis://127.0.0.1:PORT/0."""

    def __init__(
        self,
        data_dir: Path | None = None,
        port: int | None = None,
        appendfsync: str = "everysec",
        password: str | None = None,
        maxmemory_mb: int = 512,
    ) -> None:
        self.data_dir = data_dir or env.state_dir() / "redis"
        self.port = port or free_port()
        self.appendfsync = appendfsync
        self.password = secrets.token_hex(24) if password is None else password
        self.maxmemory_mb = maxmemory_mb
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """redis://ponder:PASSWORD@127.0.0.1:PORT/0 — a secret; never print it (safe_url)."""
        secret = quote(self.password, safe="")
        return f"redis://{USERNAME}:{secret}@127.0.0.1:{self.port}/0"

    @property
    def safe_url(self) -> str:
        """The URL without the password, for logs."""
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
            "--protected-mode",
            "yes",
            "--maxmemory",
            f"{self.maxmemory_mb}mb",
            "--maxmemory-policy",
            "noeviction",
            *(arg for command in DISABLED_COMMANDS for arg in ("--rename-command", command, "")),
        ]
        try:
            # On the command line the password would show in `ps`: a 0600 config file instead.
            config = self.data_dir / "auth.conf"
            write_secret(config, "\n".join(acl_config_lines(self.password)))
            command.insert(1, str(config))
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
                sock.sendall(_command("AUTH", USERNAME, self.password) + _command("PING"))
                reply = b""
                while reply.count(b"\r\n") < 2:
                    chunk = sock.recv(64)
                    if not chunk:
                        return False
                    reply += chunk
                return reply == b"+OK\r\n+PONG\r\n"
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


# Commands no part of Ponder sends; renamed to "" (gone) so that a leaked password cannot
# reconfigure the server, read its config or wipe it.
DISABLED_COMMANDS = ("CONFIG", "DEBUG", "FLUSHALL", "FLUSHDB", "MODULE", "SHUTDOWN", "SLAVEOF",
                     "REPLICAOF", "KEYS", "MIGRATE", "ACL", "FUNCTION")  # fmt: skip


def _command(*parts: str) -> bytes:
    """One command in Redis' wire format (RESP)."""
    encoded = [part.encode() for part in parts]
    return b"*%d\r\n" % len(encoded) + b"".join(
        b"$%d\r\n%s\r\n" % (len(part), part) for part in encoded
    )
