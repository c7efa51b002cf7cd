"""`ponder serve`: run the platform in the foreground (`runner.py` `LocalPlatform`) until
SIGTERM/SIGINT, optionally with the demo (`demo.py`), then drain and stop everything the
run started.

Hooked into `ponder.cli` when this package is importable; Ray is imported only inside
the command, so `ponder --help` and the client commands stay quick.
"""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path
from typing import Any

from ponder import env
from ponder.cli.common import DEFAULT_SERVE_CONFIG, say


class StopRequested(Exception):
    """SIGTERM or SIGINT arrived while the platform was still starting."""


class Signals:
    """SIGTERM and SIGINT take one path: the first asks for a drained stop, a second one
    for a fast stop. While the platform starts, a signal aborts the start."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.force = threading.Event()
        self.serving = False

    def install(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, _frame: object) -> None:
        if self.stop.is_set():
            self.force.set()
            say(f"{signal.Signals(signum).name} again: stopping now")
            return
        self.stop.set()
        if not self.serving:
            raise StopRequested


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the platform until SIGTERM/SIGINT, then drain and stop everything it started."""
    from deployments.lifecycle import (
        AnotherRunIsLive,
        RunRecord,
        clean_leftovers,
        this_process,
        wait_ports_free,
    )
    from deployments.runner import LocalPlatform
    from deployments.serve_config import ServeConfigError, load_serve_config

    try:
        config = load_serve_config(Path(args.config))
    except (ServeConfigError, OSError) as error:
        say(f"invalid config: {error}")
        return 2
    record_path = env.run_record_file()
    try:
        clean_leftovers(record_path, say)
    except AnotherRunIsLive as error:
        say(str(error))
        return 2
    me = this_process()
    record = RunRecord(record_path, pid=me.pid, created=me.created)
    signals = Signals()
    signals.install()
    platform = LocalPlatform(
        config, grpc_port=args.port, on_ray_started=signals.install, log_to_driver=args.ray_logs
    )

    def remember(processes: list[Any]) -> None:
        record.processes = tuple(processes)
        record.ports = tuple(platform.ports)
        record.save()

    platform.on_processes = remember
    grace = next(iter(config.apps.values())).ingress.drain_grace_s
    ended: list[Any] = []
    try:
        record.save()
        platform.start(progress=say)
        signals.serving = True
        if args.demo and not signals.stop.is_set():
            from deployments.demo import run_demo

            run_demo(platform)
        say(f"serving on {platform.target} until SIGTERM / Ctrl-C (drain grace {grace:g} s)")
        say(f"reasoning console: {platform.http_url}/console (with the token named below)")
        if not args.ray_logs:
            say(f"replica logs: {env.ray_temp_dir()}/session_latest/logs (--ray-logs: here)")
        say(
            "every RPC needs 'authorization: Bearer <token>'; the local token is in "
            f"{env.client_token_file()} (the CLI sends it); `ponder token add` makes more"
        )
        signals.stop.wait()
        say("stopping: no new calls; waiting for calls in flight")
        if not signals.force.is_set():
            platform.drain(grace, progress=say)
    except StopRequested:
        say("stop requested while starting")
    finally:
        if signals.force.is_set():
            platform.kill()
        ended = platform.stop()
        record.remove()
    if ended:
        say("ended after shutdown: " + ", ".join(f"{p.name} (pid {p.pid})" for p in ended))
    busy = wait_ports_free(platform.ports, timeout_s=10.0)
    if busy:
        say(f"ports still taken after the stop: {busy}")
        return 1
    say("stopped: every process of this run has ended and its ports are free")
    return 0


def register(sub: Any) -> None:
    serve = sub.add_parser("serve", help="run the platform in the foreground until Ctrl-C")
    serve.add_argument("--port", type=int, default=None, help="gRPC port (default: config's)")
    serve.add_argument("--config", default=str(DEFAULT_SERVE_CONFIG), help="Serve config YAML")
    serve.add_argument("--demo", action="store_true", help="run the demo once ready")
    serve.add_argument(
        "--ray-logs",
        action="store_true",
        dest="ray_logs",
        help="print the replicas' own log lines here too (else only in Ray's session logs, "
        f"{env.ray_temp_dir()}/session_latest/logs)",
    )
    serve.set_defaults(func=cmd_serve)
