"""A small synchronous client of the Ponder gRPC API (used by the CLI, tests and bench)."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from types import TracebackType

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ponder import env
from ponder.v1 import ponder_pb2 as pb
from ponder.v1 import ponder_pb2_grpc as pb_grpc

PRESETS = {
    "": pb.SAMPLING_PRESET_UNSPECIFIED,
    "report": pb.SAMPLING_PRESET_REPORT,
    "creative": pb.SAMPLING_PRESET_CREATIVE,
}


def build_request(
    prompt: str = "",
    *,
    messages: Sequence[tuple[str, str]] = (),
    preset: str = "",
    temperature: float | None = None,
    top_p: float | None = None,
    max_tokens: int | None = None,
    seed: int | None = None,
    stop: Sequence[str] = (),
    logprobs: int | None = None,
    min_tokens: int | None = None,
    adapter: str = "",
    model: str = "",
) -> pb.GenerateRequest:
    """A GenerateRequest from plain values; messages are (role, content) pairs."""
    roles = {"system": pb.ROLE_SYSTEM, "user": pb.ROLE_USER, "assistant": pb.ROLE_ASSISTANT}
    sampling = pb.SamplingOptions(preset=PRESETS[preset], stop=list(stop))
    if temperature is not None:
        sampling.temperature = temperature
    if top_p is not None:
        sampling.top_p = top_p
    if max_tokens is not None:
        sampling.max_tokens = max_tokens
    if seed is not None:
        sampling.seed = seed
    if logprobs is not None:
        sampling.logprobs = logprobs
    if min_tokens is not None:
        sampling.min_tokens = min_tokens
    return pb.GenerateRequest(
        prompt=prompt,
        messages=[pb.ChatMessage(role=roles[r], content=c) for r, c in messages],
        sampling=sampling,
        adapter=adapter,
        model=model,
    )


def build_reason_request(
    problem: str,
    *,
    branches: int | None = None,
    max_tokens: int | None = None,
    strategies: Sequence[str] = (),
    adapter: str = "",
    model: str = "",
) -> pb.ReasonRequest:
    """A ReasonRequest from plain values."""
    budget = pb.ReasonBudget()
    if branches is not None:
        budget.max_branches = branches
    if max_tokens is not None:
        budget.max_tokens = max_tokens
    return pb.ReasonRequest(
        problem=problem,
        budget=budget,
        strategies=list(strategies),
        adapter=adapter,
        model=model,
    )


def build_analyze_request(
    text: str,
    *,
    image: bytes = b"",
    table_json: str = "",
    temperature: float | None = None,
    max_tokens: int | None = None,
    seed: int | None = None,
    model: str = "",
) -> pb.AnalyzeRequest:
    """An AnalyzeRequest from plain values (image bytes, table JSON text)."""
    sampling = build_request("x", temperature=temperature, max_tokens=max_tokens, seed=seed)
    return pb.AnalyzeRequest(
        text=text, image=image, table_json=table_json, sampling=sampling.sampling, model=model
    )


def auth_metadata(token: str | None = None) -> tuple[tuple[str, str], ...]:
    """The `authorization` metadata for a raw stub call; token None picks up the default
    (PONDER_API_TOKEN, else the local client token)."""
    token = env.api_token() if token is None else token
    return (("authorization", f"Bearer {token}"),) if token else ()


def is_loopback(target: str) -> bool:
    """Whether a gRPC target (host:port, [v6]:port, dns:///…, or a unix: socket) stays on
    this host."""
    if target.startswith(("unix:", "unix-abstract:")):
        return True
    address = target.removeprefix("dns:///")
    if address.startswith("["):
        host = address[1 : address.find("]")]
    else:
        host = address.rsplit(":", 1)[0] if address.count(":") == 1 else address
    return host in ("localhost", "::1") or host.startswith("127.")


class PonderClient:
    """Blocking client over one channel.

    token: the bearer token sent as `authorization` metadata; None picks up
    PONDER_API_TOKEN or the token a local start left in .state/auth/client-token, ""
    sends none.

    tls: None (the default) speaks TLS to every target but a loopback one, so a bearer
    token never crosses a network in clear; True or False force it. root_certificates:
    PEM of the CA that signed the gateway's certificate (None: the system's roots)."""

    def __init__(
        self,
        target: str = "127.0.0.1:9000",
        application: str | None = None,
        token: str | None = None,
        tls: bool | None = None,
        root_certificates: bytes | None = None,
    ) -> None:
        if tls is None:
            tls = root_certificates is not None or not is_loopback(target)
        if tls:
            credentials = grpc.ssl_channel_credentials(root_certificates=root_certificates)
            self.channel = grpc.secure_channel(target, credentials)
        else:
            self.channel = grpc.insecure_channel(target)
        self.stub = pb_grpc.PonderServiceStub(self.channel)
        self.health = health_pb2_grpc.HealthStub(self.channel)
        metadata = (("application", application),) if application else ()
        self._metadata = metadata + auth_metadata(token)

    def _with_id(self, request_id: str) -> tuple[tuple[str, str], ...]:
        return self._metadata + ((("x-request-id", request_id),) if request_id else ())

    def __enter__(self) -> PonderClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self.channel.close()

    def generate(
        self, request: pb.GenerateRequest, timeout: float | None = None
    ) -> pb.GenerateResponse:
        response: pb.GenerateResponse = self.stub.Generate(
            request, timeout=timeout, metadata=self._metadata
        )
        return response

    def stream_generate(
        self, request: pb.GenerateRequest, timeout: float | None = None
    ) -> Iterator[pb.GenerateResponse]:
        """The call object is also an iterator; call .cancel() on it to stop early."""
        call: Iterator[pb.GenerateResponse] = self.stub.StreamGenerate(
            request, timeout=timeout, metadata=self._metadata
        )
        return call

    def reason(
        self, request: pb.ReasonRequest, timeout: float | None = None, request_id: str = ""
    ) -> pb.ReasonResponse:
        """request_id: the x-request-id correlation id (logs, traces); the server picks
        the reasoning_id."""
        response: pb.ReasonResponse = self.stub.Reason(
            request, timeout=timeout, metadata=self._with_id(request_id)
        )
        return response

    def report_outcome(
        self,
        reasoning_id: str,
        *,
        correct: bool | None = None,
        reward: float | None = None,
        correct_answer: str = "",
        problem_group: str = "",
        timeout: float | None = 30.0,
    ) -> pb.ReportOutcomeResponse:
        """Report how good an answer was: correct, or a reward in [0, 1]; `problem_group`
        names the family of problems this one belongs to (ReportOutcomeRequest)."""
        request = pb.ReportOutcomeRequest(
            reasoning_id=reasoning_id, correct_answer=correct_answer, problem_group=problem_group
        )
        if correct is not None:
            request.correct = correct
        if reward is not None:
            request.reward = reward
        response: pb.ReportOutcomeResponse = self.stub.ReportOutcome(
            request, timeout=timeout, metadata=self._metadata
        )
        return response

    def get_scorer(self, timeout: float | None = 30.0) -> pb.ScorerInfo:
        return self.get_scorer_response(timeout).scorer

    def get_scorer_response(self, timeout: float | None = 30.0) -> pb.GetScorerResponse:
        """The caller's path scorer and answer ranker."""
        response: pb.GetScorerResponse = self.stub.GetScorer(
            pb.GetScorerRequest(), timeout=timeout, metadata=self._metadata
        )
        return response

    def stream_reason(
        self, request: pb.ReasonRequest, timeout: float | None = None
    ) -> Iterator[pb.ReasonEvent]:
        call: Iterator[pb.ReasonEvent] = self.stub.StreamReason(
            request, timeout=timeout, metadata=self._metadata
        )
        return call

    def encode(
        self, *, image: bytes | None = None, table_json: str | None = None, timeout: float = 120
    ) -> pb.EncodeResponse:
        """Encode one image (PNG/JPEG bytes) or one table (JSON)."""
        request = pb.EncodeRequest()
        if image is not None:
            request.image = image
        if table_json is not None:
            request.table_json = table_json
        response: pb.EncodeResponse = self.stub.Encode(
            request, timeout=timeout, metadata=self._metadata
        )
        return response

    def analyze(self, request: pb.AnalyzeRequest, timeout: float = 300) -> pb.AnalyzeResponse:
        response: pb.AnalyzeResponse = self.stub.Analyze(
            request, timeout=timeout, metadata=self._metadata
        )
        return response

    def stream_analyze(
        self, request: pb.AnalyzeRequest, timeout: float = 300
    ) -> Iterator[pb.AnalyzeResponse]:
        call: Iterator[pb.AnalyzeResponse] = self.stub.StreamAnalyze(
            request, timeout=timeout, metadata=self._metadata
        )
        return call

    def list_models(self, timeout: float = 30.0) -> list[pb.ModelInfo]:
        response: pb.ListModelsResponse = self.stub.ListModels(
            pb.ListModelsRequest(), timeout=timeout, metadata=self._metadata
        )
        return list(response.models)

    def check(self, timeout: float = 5.0) -> int:
        """grpc.health.v1 status (health_pb2.HealthCheckResponse.SERVING == 1)."""
        response = self.health.Check(
            health_pb2.HealthCheckRequest(), timeout=timeout, metadata=self._metadata
        )
        return int(response.status)

    def wait_until_serving(self, timeout: float) -> None:
        """Poll health until SERVING; raise TimeoutError after timeout seconds."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self.check(timeout=5.0) == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"not SERVING after {timeout:.0f} s")
            time.sleep(1.0)
