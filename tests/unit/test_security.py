"""The token file, the authenticator (rights, rotation, broken files), the local rate limit
bucket and the error mapping of auth failures."""

from __future__ import annotations

import asyncio
import pickle
from pathlib import Path

import grpc
import pytest
from pydantic import ValidationError

from ponder.api.grpc_status import status_for, trailers_for
from ponder.errors import InvalidArgument, PermissionDenied, ResourceExhausted, Unauthenticated
from ponder.learning.records import new_reasoning_id
from ponder.security.auth import Authenticator, bearer_token
from ponder.security.local_credentials import ensure_local_api_token, ensure_secret
from ponder.security.rate_limit import RateLimiter
from ponder.security.tokens import (
    RPCS,
    RateLimit,
    TokenEntry,
    TokenFile,
    add_token,
    hash_token,
    read_token_file,
    revoke_token,
)
from ponder.v1 import ponder_pb2 as pb

DEFAULT_LIMIT = RateLimit(requests_per_s=5, burst=10)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_rights_name_exactly_the_services_rpcs() -> None:
    service = pb.DESCRIPTOR.services_by_name["PonderService"]
    assert {method.name for method in service.methods} == RPCS


def test_the_file_keeps_only_hashes_and_is_private(tmp_path: Path) -> None:
    path = tmp_path / "auth" / "tokens.yaml"
    value, entry = add_token(path, "acme", ("Reason",), "acme-1")
    text = path.read_text()
    assert value.startswith("pdr_") and len(value) > 40
    assert value not in text and hash_token(value) in text
    assert path.stat().st_mode & 0o777 == 0o600
    loaded = read_token_file(path)
    assert loaded.tokens == (entry,) and set(loaded.tenants) == {"acme"}
    assert revoke_token(path, "acme-1") and not revoke_token(path, "acme-1")
    assert read_token_file(path).tokens == ()


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"tokens": [{"id": "a", "sha256": "0" * 64, "tenant": "x"}]}, "not declared"),
        (
            {
                "tenants": {"x": {}},
                "tokens": [{"id": "a", "sha256": "0" * 64, "tenant": "x", "rpcs": ["Delete"]}],
            },
            "unknown RPCs",
        ),
        ({"tenants": {"x": {}}, "tokens": [{"id": "a", "sha256": "xyz", "tenant": "x"}]}, "hex"),
        (
            {
                "tenants": {"x": {}},
                "tokens": [
                    {"id": "a", "sha256": "0" * 64, "tenant": "x"},
                    {"id": "a", "sha256": "1" * 64, "tenant": "x"},
                ],
            },
            "unique",
        ),
        ({"tenants": {"x": {}}, "extra": 1}, "extra"),
    ],
    ids=["undeclared-tenant", "unknown-rpc", "bad-hash", "duplicate-id", "unknown-key"],
)
def test_invalid_token_files_are_refused_naming_the_problem(data: object, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        TokenFile.model_validate(data)


def test_bearer_parsing() -> None:
    assert bearer_token("Bearer abc") == "abc"
    assert bearer_token("bearer  abc ") == "abc"
    assert bearer_token("Basic abc") == ""
    assert bearer_token("") == ""


def test_identify_checks_presence_token_and_rights(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    full, _ = add_token(
        path, "acme", token_id="full", rate_limit=RateLimit(requests_per_s=1, burst=2)
    )
    narrow, _ = add_token(path, "beta", ("ListModels",), "narrow")
    auth = Authenticator(path, DEFAULT_LIMIT)
    with pytest.raises(Unauthenticated, match="missing"):
        auth.identify("", "Generate")
    with pytest.raises(Unauthenticated, match="unknown"):
        auth.identify("Bearer pdr_forged", "Generate")
    identity = auth.identify(f"Bearer {full}", "Reason")
    assert (identity.tenant, identity.token_id) == ("acme", "full")
    assert identity.rate_limit == RateLimit(requests_per_s=1, burst=2)
    assert auth.identify(f"Bearer {narrow}", "ListModels").rate_limit == DEFAULT_LIMIT
    with pytest.raises(PermissionDenied, match=r"narrow.*Generate"):
        auth.identify(f"Bearer {narrow}", "Generate")


def test_tokens_rotate_without_a_restart_and_a_broken_file_keeps_the_last_good_one(
    tmp_path: Path,
) -> None:
    path = tmp_path / "tokens.yaml"
    old, _ = add_token(path, "acme", token_id="old")
    clock = Clock()
    auth = Authenticator(path, None, reload_interval_s=2.0, clock=clock)
    auth.identify(f"Bearer {old}", "Generate")
    new, _ = add_token(path, "acme", token_id="new")
    revoke_token(path, "old")
    clock.now = 1.0  # within the interval: the file is not looked at yet
    auth.identify(f"Bearer {old}", "Generate")
    clock.now = 2.5
    with pytest.raises(Unauthenticated):
        auth.identify(f"Bearer {old}", "Generate")
    assert auth.identify(f"Bearer {new}", "Generate").tenant == "acme"
    path.write_text("tokens: [this is not, valid")  # an operator's typo
    clock.now = 5.0
    assert auth.identify(f"Bearer {new}", "Generate").tenant == "acme"
    path.unlink()  # gone: nobody gets in
    clock.now = 8.0
    with pytest.raises(Unauthenticated):
        auth.identify(f"Bearer {new}", "Generate")


def test_local_credentials_are_created_once_and_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PONDER_STATE_DIR", str(tmp_path / "state"))
    path = tmp_path / "state" / "auth" / "tokens.yaml"
    token, created = ensure_local_api_token(path, None)
    assert created and token
    client_file = path.parent / "client-token"
    assert client_file.read_text().strip() == token
    assert client_file.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    assert ensure_local_api_token(path, None) == (token, False)
    Authenticator(path, None).identify(f"Bearer {token}", "Reason")
    secret = ensure_secret(tmp_path / "state" / "auth" / "ray-token")
    assert len(secret) == 64 and ensure_secret(tmp_path / "state" / "auth" / "ray-token") == secret


def test_the_local_bucket_allows_the_burst_then_the_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(None, clock=clock)
    limit = RateLimit(requests_per_s=2, burst=3)

    def take(tenant: str, which: RateLimit | None = limit) -> None:
        asyncio.run(limiter.take(tenant, which))

    for _ in range(3):
        take("acme")
    with pytest.raises(ResourceExhausted) as refused:
        take("acme")
    assert refused.value.retry_after_s == pytest.approx(0.5)
    take("other")  # buckets are per tenant
    clock.now = 0.5
    take("acme")
    with pytest.raises(ResourceExhausted):
        take("acme")
    take("acme", None)  # no limit configured


class _FullRedis:
    """A Redis that refuses every script, as one at maxmemory with noeviction does."""

    def register_script(self, script: str) -> object:
        async def refuse(**_: object) -> int:
            from redis.exceptions import ResponseError

            raise ResponseError("OOM command not allowed when used memory > 'maxmemory'.")

        return refuse


def test_limits_stay_in_force_when_redis_refuses() -> None:
    """Fail safe: with Redis full (or down) the replica's own bucket refuses past the burst
    instead of letting every call through."""
    clock = Clock()
    limiter = RateLimiter(_FullRedis(), clock=clock)  # type: ignore[arg-type]
    limit = RateLimit(requests_per_s=1, burst=2)
    for _ in range(2):
        asyncio.run(limiter.take("acme", limit))
    with pytest.raises(ResourceExhausted):
        asyncio.run(limiter.take("acme", limit))
    clock.now = 1.0
    asyncio.run(limiter.take("acme", limit))


def test_auth_errors_map_to_their_status_and_retry_hints_travel() -> None:
    assert status_for(Unauthenticated("x"), "r")[0] == grpc.StatusCode.UNAUTHENTICATED
    assert status_for(PermissionDenied("x"), "r")[0] == grpc.StatusCode.PERMISSION_DENIED
    limited = ResourceExhausted("slow down", retry_after_s=0.25)
    assert status_for(limited, "r") == (grpc.StatusCode.RESOURCE_EXHAUSTED, "slow down")
    assert trailers_for(limited) == [("retry-after-ms", "250")]
    assert trailers_for(ResourceExhausted("full")) == []
    copy = pickle.loads(pickle.dumps(limited))  # crosses Ray process boundaries
    assert (copy.message, copy.retry_after_s) == ("slow down", 0.25)


def test_reasoning_ids_are_128_random_bits() -> None:
    ids = {new_reasoning_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)


def test_token_entries_allow_all_rpcs_when_none_are_listed() -> None:
    entry = TokenEntry(id="a", sha256="0" * 64, tenant="x")
    assert all(entry.allows(rpc) for rpc in RPCS)


def test_rays_folder_is_private_and_never_another_users(tmp_path: Path) -> None:
    """Ray's sessions, sockets and logs live in a 0700 folder of this user's: an existing
    0777 one is closed, and one another user made first is refused."""
    import os

    from ponder.security.local_credentials import private_run_dir

    fresh = private_run_dir(tmp_path / "ray")
    assert fresh.stat().st_mode & 0o777 == 0o700
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o777)
    os.chmod(shared, 0o777)
    assert private_run_dir(shared).stat().st_mode & 0o777 == 0o700
    if os.getuid() == 0:  # only root can give a folder to someone else
        squatted = tmp_path / "squatted"
        squatted.mkdir()
        os.chown(squatted, 65534, 65534)
        with pytest.raises(PermissionError, match="belongs to uid 65534"):
            private_run_dir(squatted)


def test_the_client_speaks_tls_to_any_target_but_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bearer token never crosses a network in clear: TLS unless the target is loopback
    (or the caller says otherwise), with the CA it is given."""
    from ponder.api import client as client_module

    opened: list[tuple[str, str]] = []
    plain, secure = grpc.insecure_channel, grpc.secure_channel

    def insecure(target: str) -> grpc.Channel:
        opened.append(("plain", target))
        return plain(target)

    def tls(target: str, credentials: grpc.ChannelCredentials) -> grpc.Channel:
        opened.append(("tls", target))
        return secure(target, credentials)

    monkeypatch.setattr(grpc, "insecure_channel", insecure)
    monkeypatch.setattr(grpc, "secure_channel", tls)
    for target in ("127.0.0.1:9000", "localhost:9000", "[::1]:9000"):
        client_module.PonderClient(target, token="")
    client_module.PonderClient("ponder.example.com:443", token="")
    client_module.PonderClient("10.0.0.5:9000", token="", tls=False)
    pem = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    client_module.PonderClient("127.0.0.1:9443", token="", root_certificates=pem)
    assert [kind for kind, _ in opened] == ["plain", "plain", "plain", "tls", "plain", "tls"]


def test_calls_are_weighted_by_the_tokens_they_may_generate() -> None:
    """16 branches of a big token budget cost what they may generate, not one call."""
    clock = Clock()
    limiter = RateLimiter(None, clock=clock)
    limit = RateLimit(requests_per_s=100, burst=100, tokens_per_s=100, token_burst=1000)

    def take(cost: int) -> None:
        asyncio.run(limiter.take("acme", limit, cost))

    take(600)
    with pytest.raises(ResourceExhausted) as refused:
        take(600)  # 400 left: 2 s until 600 are back
    assert refused.value.retry_after_s == pytest.approx(2.0)
    take(400)  # a refused call took nothing from either bucket
    with pytest.raises(ResourceExhausted):
        take(1)
    clock.now = 1.0
    take(100)
    with pytest.raises(InvalidArgument, match="max_tokens"):
        take(1001)  # could never pass: refused as invalid, not asked to retry
    take(0)  # a call that generates nothing is counted as a call only


def test_cost_is_the_most_tokens_a_request_may_generate() -> None:
    from ponder.security.call_cost import CostDefaults, requested_tokens
    from ponder.v1 import ponder_pb2 as pb

    defaults = CostDefaults(
        generate_max_tokens=256,
        reason_max_tokens=1024,
        reason_max_tokens_limit=8192,
        generate_max_tokens_limit=4096,
    )
    assert requested_tokens(pb.GenerateRequest(prompt="x"), defaults) == 256
    sampling = pb.SamplingOptions(max_tokens=10**9)
    assert requested_tokens(pb.GenerateRequest(sampling=sampling), defaults) == 4096
    assert (
        requested_tokens(pb.AnalyzeRequest(sampling=pb.SamplingOptions(max_tokens=7)), defaults)
        == 7
    )
    assert requested_tokens(pb.ReasonRequest(problem="x"), defaults) == 1024
    budget = pb.ReasonBudget(max_branches=16, max_tokens=8192)
    assert requested_tokens(pb.ReasonRequest(budget=budget), defaults) == 8192
    assert requested_tokens(pb.ListModelsRequest(), defaults) == 0
    assert requested_tokens(pb.ReportOutcomeRequest(), defaults) == 0


def test_a_token_burst_needs_a_token_rate() -> None:
    with pytest.raises(ValueError, match="tokens_per_s"):
        RateLimit(requests_per_s=1, burst=1, token_burst=10)
    assert RateLimit(requests_per_s=1, burst=1, tokens_per_s=50).token_burst_or_default == 500
