"""Serve autoscaling of the decoder deployment on the real engine: a second application
on the test cluster holds a Decoder with autoscaling (1 to 2 replicas); sustained load
brings a second vLLM replica up, and it goes away once the load stops. The timeline is
printed, and written where PONDER_AUTOSCALING_RESULT names (`python -m bench --only
autoscaling` runs this test that way, through bench/autoscaling.py)."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import pytest
from ray import serve

from deployments.decoder import Decoder
from deployments.ray_options import serve_options
from deployments.runner import LocalPlatform
from ponder.config import AutoscalingConfig, DeploymentConfig
from ponder.engine.vllm_engine import VLLMEngineFactory
from ponder.generation import ChatMessage, GenerationRequest, Role, SamplingOptions

pytestmark = pytest.mark.integration

APP = "autoscale-check"
RESULT_VARIABLE = "PONDER_AUTOSCALING_RESULT"


def _running_replicas() -> int:
    status = serve.status().applications.get(APP)
    if status is None:
        return 0
    deployment = status.deployments.get("Decoder")
    return 0 if deployment is None else int(deployment.replica_states.get("RUNNING", 0))


def test_decoder_scales_up_under_load_and_back_down(platform: LocalPlatform) -> None:
    engine = platform.config.apps["ponder"].decoder.engine
    scaling = DeploymentConfig(
        num_replicas=None,
        autoscaling=AutoscalingConfig(
            min_replicas=1,
            max_replicas=2,
            target_ongoing_requests=2,
            upscale_delay_s=2,
            downscale_delay_s=10,
            look_back_period_s=5,
        ),
        max_ongoing_requests=32,
        num_cpus=0.0,  # the test cluster's 2 CPUs are reserved by the main application
    )
    app = Decoder.options(**serve_options(scaling)).bind(  # type: ignore[attr-defined]
        VLLMEngineFactory(engine)
    )
    serve.run(app, name=APP, route_prefix=f"/{APP}")
    handle = serve.get_deployment_handle("Decoder", app_name=APP)
    timeline: list[tuple[float, int]] = []
    try:
        assert _running_replicas() == 1
        started = time.monotonic()
        stop = asyncio.Event()

        async def one_caller(seed: int) -> None:
            while not stop.is_set():
                request = GenerationRequest(
                    request_id=f"scale-{seed}-{time.monotonic_ns()}",
                    messages=(ChatMessage(Role.USER, "Write a long story about a lighthouse."),),
                    sampling=SamplingOptions(temperature=0.8, max_tokens=96, seed=seed),
                )
                await handle.complete.remote(request)

        async def load_until_scaled() -> float:
            callers = [asyncio.create_task(one_caller(i)) for i in range(8)]
            try:
                while _running_replicas() < 2:
                    timeline.append((time.monotonic() - started, _running_replicas()))
                    assert time.monotonic() - started < 300, (
                        f"no second replica after 300 s: {serve.status().applications[APP]}"
                    )
                    await asyncio.sleep(0.5)
                return time.monotonic() - started
            finally:
                stop.set()
                await asyncio.gather(*callers, return_exceptions=True)

        scaled_up_after = asyncio.run(load_until_scaled())
        load_stopped = time.monotonic()
        while _running_replicas() > 1:
            timeline.append((time.monotonic() - started, _running_replicas()))
            assert time.monotonic() - load_stopped < 180, "still 2 replicas 180 s after load"
            time.sleep(0.5)
        scaled_down_after = time.monotonic() - load_stopped
        assert _running_replicas() == 1
        result = {
            "autoscaling": scaling.autoscaling.model_dump() if scaling.autoscaling else {},
            "second_replica_running_after_load_began_s": round(scaled_up_after, 1),
            "back_to_one_replica_after_load_stopped_s": round(scaled_down_after, 1),
            "timeline": [(round(t, 1), n) for t, n in timeline[:: max(1, len(timeline) // 60)]],
        }
        print(json.dumps(result))
        if os.environ.get(RESULT_VARIABLE):
            out = Path(os.environ[RESULT_VARIABLE])
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(result, indent=2) + "\n")
    finally:
        serve.delete(APP)
