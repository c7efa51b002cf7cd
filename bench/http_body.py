"""What an unauthenticated oversized POST costs the HTTP front door (issue 30).

Run:  .venv/bin/python bench/http_body.py [--mib 16] [--calls 8]

The app runs with the scripted engine injected (no vLLM: the decoder plays no part in
this), a real Redis and authentication on. While POSTs of `--mib` MiB go to
/v1/chat/completions, the resident memory (RSS) of the Ingress replica and of Serve's
HTTP proxy actor is sampled every 5 ms; reported is the peak over the idle baseline
measured just before, for

  - `unauthenticated`: no token (refused 401 before the body is read), one at a time
    (twice: RSS is a high-water mark, so the second round shows what is not reused) and
    `--calls` at once;
  - `authenticated`: a valid token (the body is read up to ingress.max_message_bytes and
    refused 413), one at a time — the side-by-side figure for a body that is read.

Results: bench/results/http_body.json (rendered into BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from meta import run_meta  # noqa: E402

RESULT = ROOT / "bench" / "results" / "http_body.json"
MIB = 1024 * 1024


def _actor_pids() -> dict[str, int]:
    """The Ingress replica's and the HTTP proxy's processes, by Ray's process titles."""
    pids = {}
    for process in psutil.process_iter(["pid", "cmdline"]):
        title = " ".join(process.info["cmdline"] or ())
        if title.startswith("ray::ServeReplica:ponder:Ingress"):
            pids["ingress replica"] = process.info["pid"]
        elif title.startswith("ray::ProxyActor"):
            pids["HTTP proxy"] = process.info["pid"]
    if len(pids) != 2:
        raise RuntimeError(f"found {pids}, not the Ingress replica and the proxy")
    return pids


class PeakSampler:
    """Samples the RSS of some processes every few ms; keeps each one's peak."""

    def __init__(self, pids: dict[str, int], every_s: float = 0.005) -> None:
        self._processes = {name: psutil.Process(pid) for name, pid in pids.items()}
        self._every_s = every_s
        self.peak: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def rss(self) -> dict[str, int]:
        return {name: p.memory_info().rss for name, p in self._processes.items()}

    def _run(self) -> None:
        while not self._stop.is_set():
            for name, value in self.rss().items():
                self.peak[name] = max(self.peak.get(name, 0), value)
            time.sleep(self._every_s)

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def measure(
    pids: dict[str, int], send: Callable[[], list[int]], settle_s: float = 1.0
) -> dict[str, Any]:
    time.sleep(settle_s)
    baseline = PeakSampler(pids).rss()
    with PeakSampler(pids) as sampler:
        statuses = send()
        time.sleep(0.2)
    return {
        "statuses": sorted(set(statuses)),
        "calls": len(statuses),
        "growth_mib": {
            name: round((sampler.peak[name] - baseline[name]) / MIB, 2) for name in baseline
        },
    }


async def _posts(url: str, body: bytes, calls: int, token: str | None) -> list[int]:
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    async with httpx.AsyncClient(timeout=120) as client:

        async def one() -> int:
            try:
                response = await client.post(url, content=body, headers=headers)
                return response.status_code
            except httpx.HTTPError:
                return 0  # the server closed the connection before taking the whole body

        return list(await asyncio.gather(*(one() for _ in range(calls))))


def run(mib: int, calls: int) -> dict[str, Any]:
    from deployments.runner import LocalPlatform
    from deployments.serve_config import validate_serve_config
    from ponder.engine.scripted import ScriptedEngineFactory
    from ponder.redis_server import free_port
    from tests.integration.support import serve_config_for_tests

    state = Path(tempfile.mkdtemp(prefix="ponder-http-body-"))
    data = serve_config_for_tests(token_file=state / "tokens.yaml")
    config = validate_serve_config(data, source="http_body bench config")
    platform = LocalPlatform(
        config,
        grpc_port=free_port(),
        engine_factory=ScriptedEngineFactory(rules=(("", "ok"),)),
        redis_data_dir=state / "redis",
    )
    platform.start(progress=lambda m: print(f"[bench] {m}", file=sys.stderr, flush=True))
    try:
        url = platform.http_url + "/v1/chat/completions"
        body = b"x" * (mib * MIB)
        pids = _actor_pids()
        token = platform.api_token

        def one_at_a_time(with_token: str | None) -> list[int]:
            return [s for _ in range(calls) for s in asyncio.run(_posts(url, body, 1, with_token))]

        asyncio.run(_posts(url, b"{}", 1, None))  # warm-up: the routes, the connection
        results = {
            "unauthenticated, one at a time": measure(pids, lambda: one_at_a_time(None)),
            "unauthenticated, one at a time (again)": measure(pids, lambda: one_at_a_time(None)),
            f"unauthenticated, {calls} at once": measure(
                pids, lambda: asyncio.run(_posts(url, body, calls, None))
            ),
            "authenticated (body read), one at a time": measure(pids, lambda: one_at_a_time(token)),
        }
        limit = config.apps["ponder"].ingress.max_message_bytes
    finally:
        platform.stop()
        shutil.rmtree(state, ignore_errors=True)  # its token file and Redis data
    return {"mib": mib, "calls": calls, "max_message_bytes": limit, "results": results}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mib", type=int, default=16, help="body size in MiB")
    parser.add_argument("--calls", type=int, default=8, help="POSTs per measurement")
    args = parser.parse_args()
    result = run(args.mib, args.calls) | {"meta": run_meta()}
    RESULT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
