"""Clean stop and restart of `ponder serve` as an operator runs it: SIGTERM and SIGINT
drain and stop everything the run started (no orphan, ports free), a restart right after
works, a request in flight finishes, an acknowledged outcome survives, and a start after
SIGKILL removes what the crashed run left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
import yaml

from deployments.lifecycle import port_is_free
from ponder import env
from ponder.api.client import PonderClient, build_reason_request, build_request
from ponder.redis_server import free_port
from tests.integration.support import serve_config_for_tests

pytestmark = pytest.mark.integration

STOP_WITHIN_S = 120  # drain grace (30 s) + Serve and Ray shutdown, on 2 busy cores


@dataclass
class Serve:
    process: subprocess.Popen[str]
    port: int
    log: Path

    def output(self) -> str:
        return self.log.read_text()

    def run_processes(self) -> list[psutil.Process]:
        return psutil.Process(self.process.pid).children(recursive=True)


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    # Ray's socket paths must stay short, so not pytest's deep tmp_path.
    with tempfile.TemporaryDirectory(prefix="pl-") as folder:
        root = Path(folder)
        data = serve_config_for_tests()
        data["applications"][0]["args"]["encoder"]["enabled"] = False
        data["applications"][0]["args"]["ingress"]["drain_grace_s"] = 30
        (root / "serve.yaml").write_text(yaml.safe_dump(data))
        yield root


def _start(workdir: Path, name: str) -> Serve:
    port = free_port()
    log = workdir / f"{name}.log"
    environment = dict(os.environ)
    environment.update(
        PONDER_STATE_DIR=str(workdir / "state"),
        PONDER_MODEL_DIR=str(env.default_model_dir()),
        PONDER_RAY_TEMP_DIR=str(workdir / "ray"),
        PYTHONUNBUFFERED="1",
    )
    command = [sys.executable, "-m", "ponder.cli", "serve", "--port", str(port)]
    command += ["--config", str(workdir / "serve.yaml")]
    with log.open("w") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=environment, text=True
        )
    serve = Serve(process, port, log)
    with PonderClient(f"127.0.0.1:{port}", token="") as client:  # health needs no token
        deadline = time.monotonic() + 600
        while True:
            assert process.poll() is None, serve.output()[-3000:]
            try:
                client.wait_until_serving(timeout=5)
                return serve
            except Exception:
                assert time.monotonic() < deadline, serve.output()[-3000:]


def _stop(serve: Serve, sig: signal.Signals) -> tuple[int, list[psutil.Process]]:
    """Send sig; return the exit code and the processes of the run still alive after."""
    owned = serve.run_processes()
    assert len(owned) >= 5, [p.name() for p in owned]  # gcs, raylet, agents, replicas, redis
    serve.process.send_signal(sig)
    code = serve.process.wait(timeout=STOP_WITHIN_S)
    alive = [p for p in owned if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    return code, alive


def test_sigterm_drains_stops_everything_and_a_restart_serves(workdir: Path) -> None:
    first = _start(workdir, "first")
    target = f"127.0.0.1:{first.port}"
    # The first start created the token file and left the client token in its state dir.
    token_file = workdir / "state" / "auth" / "client-token"
    assert "created API token file" in first.output()
    assert token_file.stat().st_mode & 0o777 == 0o600
    token = token_file.read_text().strip()
    with PonderClient(target, token=token) as client:
        answer = client.reason(
            build_reason_request("Tom has 3 apples and buys 5 more. How many apples?"),
            timeout=300,
        )
        assert client.report_outcome(answer.reasoning_id, correct=True).duplicate is False
        in_flight: dict[str, object] = {}

        def long_call() -> None:
            request = build_request(
                messages=[("user", "Tell a long story about a lighthouse keeper.")],
                temperature=0.0,
                max_tokens=160,
            )
            try:
                in_flight["response"] = client.generate(request, timeout=120)
            except Exception as error:
                in_flight["error"] = error

        caller = threading.Thread(target=long_call)
        caller.start()
        time.sleep(1.0)  # the call is in the engine now
        code, alive = _stop(first, signal.SIGTERM)
        caller.join(timeout=60)
    assert code == 0, first.output()[-3000:]
    assert alive == [], [(p.pid, p.name()) for p in alive]
    assert port_is_free(first.port)
    assert "error" not in in_flight, in_flight  # drained: the call in flight finished
    assert in_flight["response"].usage.completion_tokens > 0  # type: ignore[attr-defined]
    assert "draining: health NOT_SERVING" in first.output()

    second = _start(workdir, "second")  # right away, same state dir
    assert "created API token file" not in second.output()  # the same token still works
    with PonderClient(f"127.0.0.1:{second.port}", token=token) as client:
        # The acknowledged outcome survived the stop (Redis AOF): reporting it again is a
        # duplicate, not a new outcome.
        assert client.report_outcome(answer.reasoning_id, correct=True).duplicate is True
    code, alive = _stop(second, signal.SIGINT)
    assert code == 0, second.output()[-3000:]
    assert alive == []
    assert "an earlier run did not stop cleanly" not in second.output()


def test_a_start_after_sigkill_ends_what_the_crashed_run_left(workdir: Path) -> None:
    crashed = _start(workdir, "crashed")
    owned = crashed.run_processes()
    crashed.process.kill()
    crashed.process.wait(timeout=30)
    time.sleep(2.0)
    orphans = [p for p in owned if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert orphans, "SIGKILL of ponder serve left nothing running (nothing to clean up)"
    recovered = _start(workdir, "recovered")
    assert "an earlier run did not stop cleanly" in recovered.output()
    still = [p for p in orphans if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert still == [], [(p.pid, p.name()) for p in still]
    code, alive = _stop(recovered, signal.SIGTERM)
    assert code == 0 and alive == []
