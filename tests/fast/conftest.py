"""The fast tier: the whole application on a local Ray cluster and Serve, with the
scripted engine injected through the same seam as vLLM, a real Redis and real tokens: no
vLLM, no model weights on the decoder path, no training. It covers the front doors (gRPC
and HTTP), auth, error mapping, streaming, cancellation, backpressure, the planner's
fan-out and outcome logging in about a minute, before the slow tier starts vLLM."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from deployments.runner import LocalPlatform
from ponder.api.client import PonderClient
from ponder.engine.scripted import ScriptedEngineFactory
from ponder.reasoning.ranker_fit import save_rehearsal
from tests.integration.support import (
    running_platform,
    serve_config_for_tests,
    synthetic_rehearsal,
)

# (substring of the last message, the scripted reply): enough for every strategy of Reason
RULES = (
    ("one arithmetic expression", "3 + 4"),
    ("at most 3 steps", "3 + 4 = 7\n"),
    ("Is this answer correct", "yes"),
    ("step by step", "3 + 4 = 7. The answer is 7."),
    ("only the final numeric", "7"),
    ("count slowly", " ".join(f"w{i}" for i in range(400))),
)
PROBLEM = "Tom has 3 apples and buys 4 more. How many apples does he have?"


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPlatform]:
    tokens = tmp_path_factory.mktemp("auth") / "tokens.yaml"
    data = serve_config_for_tests(token_file=tokens)
    # Ranker refits every 4 outcomes on a small synthetic rehearsal set (a refit on the
    # packaged one takes a minute and a half): the wiring, not the figures, is tested here.
    rehearsal = tmp_path_factory.mktemp("ranker") / "rehearsal.npz"
    save_rehearsal(synthetic_rehearsal(0), rehearsal)
    data["applications"][0]["args"]["planner"]["learning"].update(
        per_tenant=True,
        ranker_propose_every=4,
        ranker_gate_min_problems=1,
        ranker_rehearsal_path=str(rehearsal),
    )
    engine = data["applications"][0]["args"]["decoder"]["engine"]
    factory = ScriptedEngineFactory(
        rules=RULES, token_delay_s=0.01, adapters=tuple(engine.get("lora_adapters", {}))
    )
    with running_platform(data, tmp_path_factory, "fast platform", factory) as local:
        yield local


@pytest.fixture()
def client(platform: LocalPlatform) -> Iterator[PonderClient]:
    with platform.client() as c:
        yield c
