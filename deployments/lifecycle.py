"""What a local run started and how it all goes away.

A run owns every process it spawned: Ray's GCS, raylet, agents and workers, the replicas
and their engines, the loopback redis-server. They are recorded as (pid, start time) —
the start time guards against a recycled pid — in `.state/run/serve.json` while the run
lives, so a later start can find what a crashed run (SIGKILL, power loss) left behind and
remove exactly those, never a process it did not start.

Some of Ray's agents ignore SIGTERM, so stopping ends with: survivors get SIGTERM, then
SIGKILL after a grace period.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil


@dataclass(frozen=True)
class OwnedProcess:
    """A process a run started, identified by pid and start time."""

    pid: int
    created: float
    name: str

    def alive(self) -> psutil.Process | None:
        """The process, if it still runs and is the same one (not a recycled pid)."""
        try:
            process = psutil.Process(self.pid)
            if abs(process.create_time() - self.created) > 0.01:
                return None
            if process.status() == psutil.STATUS_ZOMBIE:
                return None
            return process
        except psutil.Error:
            return None


def descendants(pid: int) -> list[OwnedProcess]:
    """Every process below pid, as it is now."""
    owned = []
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []
    for child in children:
        with contextlib.suppress(psutil.Error):
            owned.append(OwnedProcess(child.pid, child.create_time(), child.name()))
    return owned


def terminate(processes: Iterable[OwnedProcess], grace_s: float) -> list[OwnedProcess]:
    """SIGTERM every one still alive, SIGKILL those left after grace_s. Returns the
    processes that had to be ended."""
    living = [(p, proc) for p in processes if (proc := p.alive()) is not None]
    for _, proc in living:
        with contextlib.suppress(psutil.Error):
            proc.terminate()
    _, still = psutil.wait_procs([proc for _, proc in living], timeout=grace_s)
    for proc in still:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(still, timeout=5)
    return [p for p, _ in living]


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def wait_ports_free(ports: Iterable[int], timeout_s: float) -> list[int]:
    """Ports still taken after timeout_s (empty when all are free)."""
    deadline = time.monotonic() + timeout_s
    busy = [p for p in ports if p]
    while busy and time.monotonic() < deadline:
        time.sleep(0.1)
        busy = [p for p in busy if not port_is_free(p)]
    return busy


class AnotherRunIsLive(RuntimeError):
    """The state directory belongs to a run whose process still lives."""


@dataclass
class RunRecord:
    """The record of one local run under the state dir."""

    path: Path
    pid: int = 0
    created: float = 0.0
    ports: tuple[int, ...] = ()
    processes: tuple[OwnedProcess, ...] = ()

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "pid": self.pid,
            "created": self.created,
            "ports": list(self.ports),
            "processes": [asdict(p) for p in self.processes],
        }
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(data, indent=1) + "\n")
        temporary.replace(self.path)

    @classmethod
    def load(cls, path: Path) -> RunRecord | None:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        return cls(
            path=path,
            pid=int(data["pid"]),
            created=float(data["created"]),
            ports=tuple(data.get("ports", ())),
            processes=tuple(OwnedProcess(**p) for p in data.get("processes", ())),
        )

    def remove(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def this_process() -> OwnedProcess:
    me = psutil.Process(os.getpid())
    return OwnedProcess(me.pid, me.create_time(), me.name())


def clean_leftovers(path: Path, say: Callable[[str], None]) -> list[OwnedProcess]:
    """End what a crashed earlier run recorded and left alive; refuse if that run is still
    alive (a second `ponder serve` on the same state dir)."""
    record = RunRecord.load(path)
    if record is None:
        return []
    owner = OwnedProcess(record.pid, record.created, "ponder serve")
    if owner.pid != os.getpid() and owner.alive() is not None:
        raise AnotherRunIsLive(
            f"another `ponder serve` (pid {owner.pid}) is running with this state dir "
            f"({path.parent.parent}); stop it first"
        )
    leftovers = [p for p in record.processes if p.alive() is not None]
    if leftovers:
        names = ", ".join(f"{p.name} (pid {p.pid})" for p in leftovers)
        say(f"an earlier run did not stop cleanly; ending what it left running: {names}")
        terminate(leftovers, grace_s=5.0)
    busy = wait_ports_free(record.ports, timeout_s=5.0)
    if busy:
        say(f"ports of the earlier run still taken by other processes: {busy}")
    record.remove()
    return leftovers
