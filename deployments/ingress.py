"""gRPC ingress: implements ponder.v1.PonderService and grpc.health.v1.Health.

Serve's gRPC proxy calls the method named like the RPC. Each method reads top to bottom:
authenticate the caller (bearer token -> tenant, rights, rate limit) -> validate the
request -> call the decoder or planner -> convert the answer; every error is mapped to a
status code in ponder.api.grpc_status and never leaks a traceback. Health stays open.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

from grpc_health.v1 import health_pb2
from ray import serve
from ray.serve.handle import DeploymentHandle
from redis.asyncio import Redis

from deployments.analyze_path import AnalyzePath
from deployments.grpc_calls import (
    Call,
    Caller,
    Req,
    RequestFailed,
    Resp,
    StreamHandler,
    UnaryHandler,
    fail,
    redis_errors_unavailable,
    relay,
)
from deployments.http_api import HttpFrontDoor, http_app
from deployments.metrics import IngressMetrics
from deployments.remote_errors import original_error
from deployments.serve_logging import install_client_error_filter
from ponder import env
from ponder.api.generate_convert import (
    chunk_to_proto,
    generation_request_from_proto,
    result_to_proto,
)
from ponder.api.learning_convert import (
    outcome_from_proto,
    refresh_model_info,
    scorer_status_to_proto,
)
from ponder.api.models_convert import models_to_proto
from ponder.api.multimodal_convert import encode_input_from_proto, encode_response
from ponder.api.reason_convert import event_to_proto, reason_call_from_proto
from ponder.api.reason_convert import result_to_proto as reason_result_to_proto
from ponder.config import PonderConfig
from ponder.errors import NotFound, Unavailable
from ponder.generation import GenerationRequest, GenerationResult
from ponder.health_probe import SharedProbe
from ponder.learning.model_registry import BASE_VERSION
from ponder.learning.outcome_log import OutcomeLog
from ponder.learning.records import SHARED_SCOPE, new_reasoning_id, scorer_scope
from ponder.learning.scorer_status import ModelStatus, model_status, ranker_status, scorer_status
from ponder.model_catalogue import catalogue
from ponder.queue_wait import QueueWait, booked
from ponder.reasoning.requests import ReasonCall, ReasonResult
from ponder.redis_client import connect
from ponder.security.admission import Admission
from ponder.security.auth import ANONYMOUS, Identity
from ponder.telemetry.tracing import correlate_logs
from ponder.v1 import ponder_pb2 as pb

log = logging.getLogger("ray.serve")


@serve.deployment(name="Ingress")
@serve.ingress(http_app)
class Ingress(HttpFrontDoor):
    """The front door: gRPC (the RPC methods below) and HTTP/JSON (HttpFrontDoor's routes,
    which call the same methods)."""

    def __init__(
        self,
        decoder: DeploymentHandle,
        planner: DeploymentHandle,
        config: PonderConfig,
        learner: DeploymentHandle | None = None,
        encoder: DeploymentHandle | None = None,
        student: DeploymentHandle | None = None,
    ) -> None:
        install_client_error_filter()  # a caller's mistake is one log line, not a traceback
        self._decoder = decoder
        # Decoder sets by the name requests use in `model` ("" = the main one).
        self._decoders: dict[str, DeploymentHandle] = {"": decoder}
        if student is not None:
            self._decoders[config.student.name] = student
        self._students = frozenset(name for name in self._decoders if name)
        self._encoder = encoder
        self._learner = learner  # bound so Serve deploys it; it works off the outcome log
        self._planner = planner
        self._config = config
        self._adapters = frozenset(config.decoder.engine.lora_adapters)
        self._http_body_limit = config.ingress.max_message_bytes
        self._http_enabled = config.ingress.http_enabled
        self._models = catalogue(config)
        self._draining = False
        self._drain_file = env.drain_file()
        self._metrics = IngressMetrics()
        correlate_logs()
        self._redis: Redis | None = connect(config.redis) if config.redis.url else None
        self._outcome_log: OutcomeLog | None = None
        if self._redis is not None and config.planner.learning.enabled:
            self._outcome_log = OutcomeLog(self._redis, config.planner.learning.retention_s)
        self._admission = Admission.from_config(config, self._redis)
        self._analyze_path = AnalyzePath(
            config, self._decoders, self._students, encoder, planner, self._reason_call
        )
        self._queue_wait = QueueWait.from_config(config)
        self._auth = self._admission.authenticator if self._admission else None  # HTTP routes
        self._unary_handlers: dict[str, UnaryHandler[Any, Any]] = {
            "Generate": self._generate,
            "Reason": self._reason,
            "ReportOutcome": self._report_outcome,
            "GetScorer": self._get_scorer,
            "Encode": self._encode,
            "Analyze": self._analyze,
            "ListModels": self._list_models,
        }
        self._stream_handlers: dict[str, StreamHandler[Any, Any]] = {
            "StreamGenerate": self._stream_generate,
            "StreamReason": self._stream_reason,
            "StreamAnalyze": self._stream_analyze,
        }
        self._health = SharedProbe(
            self._probe_decoder,
            timeout_s=config.ingress.health_timeout_s,
            ttl_s=config.ingress.health_cache_s,
        )

    # -- ponder.v1.PonderService: each RPC is a scaffold around one handler ---------------

    async def Generate(
        self, request: pb.GenerateRequest, grpc_context: Any = None
    ) -> pb.GenerateResponse:
        return await self._grpc_unary("Generate", request, grpc_context, pb.GenerateResponse)

    async def StreamGenerate(
        self, request: pb.GenerateRequest, grpc_context: Any = None
    ) -> AsyncIterator[pb.GenerateResponse]:
        async for message in self._grpc_streaming("StreamGenerate", request, grpc_context):
            yield message

    async def Reason(
        self, request: pb.ReasonRequest, grpc_context: Any = None
    ) -> pb.ReasonResponse:
        return await self._grpc_unary("Reason", request, grpc_context, pb.ReasonResponse)

    async def StreamReason(
        self, request: pb.ReasonRequest, grpc_context: Any = None
    ) -> AsyncIterator[pb.ReasonEvent]:
        async for message in self._grpc_streaming("StreamReason", request, grpc_context):
            yield message

    async def ReportOutcome(
        self, request: pb.ReportOutcomeRequest, grpc_context: Any = None
    ) -> pb.ReportOutcomeResponse:
        return await self._grpc_unary(
            "ReportOutcome", request, grpc_context, pb.ReportOutcomeResponse
        )

    async def GetScorer(
        self, request: pb.GetScorerRequest, grpc_context: Any = None
    ) -> pb.GetScorerResponse:
        return await self._grpc_unary("GetScorer", request, grpc_context, pb.GetScorerResponse)

    async def Encode(
        self, request: pb.EncodeRequest, grpc_context: Any = None
    ) -> pb.EncodeResponse:
        return await self._grpc_unary("Encode", request, grpc_context, pb.EncodeResponse)

    async def Analyze(
        self, request: pb.AnalyzeRequest, grpc_context: Any = None
    ) -> pb.AnalyzeResponse:
        return await self._grpc_unary("Analyze", request, grpc_context, pb.AnalyzeResponse)

    async def StreamAnalyze(
        self, request: pb.AnalyzeRequest, grpc_context: Any = None
    ) -> AsyncIterator[pb.AnalyzeResponse]:
        async for message in self._grpc_streaming("StreamAnalyze", request, grpc_context):
            yield message

    async def ListModels(
        self, request: pb.ListModelsRequest, grpc_context: Any = None
    ) -> pb.ListModelsResponse:
        return await self._grpc_unary("ListModels", request, grpc_context, pb.ListModelsResponse)

    # -- one call, from either front door -------------------------------------------------

    async def unary(self, rpc: str, request: Any, caller: Caller) -> Any:
        """One call of a unary RPC: metered, refused while draining, admitted (token,
        tenant, cost-weighted limit), handled. Errors are raised as they are; each front
        door turns them into its own status (`fail` for gRPC, `failure` for HTTP)."""
        handler = self._unary_handlers[rpc]
        with self._metrics.measured(rpc):
            self._refuse_while_draining()
            call = Call(caller.request_id, await self._admit(rpc, caller, request))
            with booked(self._queue_wait, request, caller):
                return await handler(request, call)

    async def streaming(self, rpc: str, request: Any, caller: Caller) -> AsyncIterator[Any]:
        """As unary, for a streaming RPC: an error midway ends the stream."""
        handler = self._stream_handlers[rpc]
        with self._metrics.measured(rpc):
            self._refuse_while_draining()
            call = Call(caller.request_id, await self._admit(rpc, caller, request))
            with booked(self._queue_wait, request, caller):
                async for message in handler(request, call):
                    yield message

    async def _grpc_unary(
        self, rpc: str, request: Req, grpc_context: Any, response_type: type[Resp]
    ) -> Resp:
        """The gRPC door of a unary RPC: every error mapped to a status (no traceback)."""
        caller = Caller.of_grpc(grpc_context)
        try:
            answer: Resp = await self.unary(rpc, request, caller)
            return answer
        except BaseException as error:
            failure = fail(grpc_context, error, caller.request_id)
            if isinstance(failure, RequestFailed) and grpc_context is not None:
                # Answered, not raised: Serve's proxy logs a raised error with its
                # traceback at ERROR and forwards only its code and details; a returned
                # message carries the whole context (code, details, trailers such as
                # retry-after-ms) and logs nothing.
                return response_type()
            raise failure from None

    async def _grpc_streaming(
        self, rpc: str, request: Any, grpc_context: Any
    ) -> AsyncIterator[Any]:
        """The gRPC door of a streaming RPC: errors midway end it with their status."""
        caller = Caller.of_grpc(grpc_context)
        try:
            async for message in self.streaming(rpc, request, caller):
                yield message
        except BaseException as error:
            raise fail(grpc_context, error, caller.request_id) from None

    # -- handlers: validate -> call downstream -> convert ---------------------------------

    async def _generate(self, request: pb.GenerateRequest, call: Call) -> pb.GenerateResponse:
        generation = self._generation_request(request, call.request_id)
        result: GenerationResult = await self._decoders[generation.model].complete.remote(
            generation
        )
        return result_to_proto(result, call.request_id)

    async def _stream_generate(
        self, request: pb.GenerateRequest, call: Call
    ) -> AsyncIterator[pb.GenerateResponse]:
        generation = self._generation_request(request, call.request_id)
        decoder = self._decoders[generation.model].options(stream=True)
        async for chunk in relay(decoder.stream.remote(generation)):
            yield chunk_to_proto(chunk, call.request_id)

    async def _reason(self, request: pb.ReasonRequest, call: Call) -> pb.ReasonResponse:
        reason_call = self._reason_call(request, call)
        result: ReasonResult = await self._planner.reason.remote(reason_call)
        return reason_result_to_proto(result)

    async def _stream_reason(
        self, request: pb.ReasonRequest, call: Call
    ) -> AsyncIterator[pb.ReasonEvent]:
        reason_call = self._reason_call(request, call)
        planner = self._planner.options(stream=True)
        async for event in relay(planner.run.remote(reason_call)):
            yield event_to_proto(event)

    async def _report_outcome(
        self, request: pb.ReportOutcomeRequest, call: Call
    ) -> pb.ReportOutcomeResponse:
        outcome = outcome_from_proto(request)
        async with redis_errors_unavailable():
            # Another tenant's reasoning is refused inside Redis, before anything is
            # written, exactly like an unknown id.
            ack = await self._learning_log().report(
                outcome, call.identity.tenant, self._scope(call.identity)
            )
        return pb.ReportOutcomeResponse(
            duplicate=ack.duplicate,
            scorer_version=ack.record.scorer_version,
            scope=ack.record.scope,
        )

    async def _get_scorer(self, request: pb.GetScorerRequest, call: Call) -> pb.GetScorerResponse:
        self._learning_log()
        assert self._redis is not None
        scope = self._scope(call.identity)
        async with redis_errors_unavailable():
            try:
                status = await scorer_status(self._redis, scope)
            except NotFound:  # a tenant without its own version yet uses the shared one
                status = await scorer_status(self._redis, SHARED_SCOPE)
            ranker = None
            planner = self._config.planner
            if planner.selection == "ranker" and planner.learning.ranker_learning:
                try:
                    ranker = await ranker_status(self._redis, scope)
                except NotFound:  # no outcome of this scope yet: the shared ranker
                    with contextlib.suppress(NotFound):
                        ranker = await ranker_status(self._redis, SHARED_SCOPE)
            model = await self._model_status(scope)
        return scorer_status_to_proto(status, ranker, model)

    async def _model_status(self, scope: str) -> ModelStatus | None:
        """The scope's model version, when the student loads refresh adapters."""
        student = self._config.student
        if not (student.enabled and student.engine.refresh_adapters and self._redis):
            return None
        return await model_status(self._redis, scope, student.name)

    async def _encode(self, request: pb.EncodeRequest, call: Call) -> pb.EncodeResponse:
        image, table = encode_input_from_proto(request)
        encoded = await self._encoders().encode.remote(image, table)
        return encode_response(encoded)

    async def _analyze(self, request: pb.AnalyzeRequest, call: Call) -> pb.AnalyzeResponse:
        return await self._analyze_path.unary(request, call)

    async def _stream_analyze(
        self, request: pb.AnalyzeRequest, call: Call
    ) -> AsyncIterator[pb.AnalyzeResponse]:
        async for message in self._analyze_path.stream(request, call):
            yield message

    async def _list_models(
        self, request: pb.ListModelsRequest, call: Call
    ) -> pb.ListModelsResponse:
        listed = models_to_proto(self._models)
        async with redis_errors_unavailable():
            model = await self._model_status(self._scope(call.identity))
        if model is not None and model.active.name != BASE_VERSION:
            listed.models.append(refresh_model_info(model))
        return listed

    # -- grpc.health.v1.Health -----------------------------------------------------------

    async def Check(
        self, request: health_pb2.HealthCheckRequest, grpc_context: Any = None
    ) -> health_pb2.HealthCheckResponse:
        """SERVING when a decoder replica answered within the configured time (asked at
        most once per health_cache_s, however many checks come); NOT_SERVING from the
        moment a drain starts (load balancers and probes stop sending first)."""
        if self._is_draining() or not await self._health.healthy():
            return health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.NOT_SERVING)
        return health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING)

    async def _probe_decoder(self) -> None:
        try:
            await self._decoder.stats.remote()
        except Exception as error:
            raise original_error(error) from None

    # -- shutdown ------------------------------------------------------------------------

    def drain(self) -> int:
        """Start draining: health says NOT_SERVING, new calls get UNAVAILABLE, calls in
        flight go on. Returns how many are in flight."""
        if not self._draining:
            log.info("draining: %d call(s) in flight", self._metrics.in_flight)
        self._draining = True
        return self._metrics.in_flight

    def in_flight(self) -> int:
        """Calls this replica is still answering (streams until their last message)."""
        return self._metrics.in_flight

    def _is_draining(self) -> bool:
        """Draining was asked of this replica, or of its node (the drain file exists)."""
        if not self._draining and self._drain_file.exists():
            log.info("drain file %s found: draining", self._drain_file)
            self._draining = True
        return self._draining

    def _refuse_while_draining(self) -> None:
        if self._is_draining():
            raise Unavailable("the server is shutting down; retry shortly")

    # -- helpers -------------------------------------------------------------------------

    async def _admit(self, rpc: str, caller: Caller, *requests: object) -> Identity:
        """The authenticated caller of rpc, within its tenant's rate limit; not checked
        again for an internal call (Ray's token admitted it) or one `admit_all` admitted."""
        if caller.admitted is not None:
            return caller.admitted
        if self._admission is None or caller.internal:
            return ANONYMOUS
        authorization = caller.value("authorization")
        claimed = caller.value("x-tenant-id")
        return await self._admission.admit(rpc, authorization, claimed, *requests)

    async def admit_all(self, rpc: str, caller: Caller, requests: list[Any]) -> Caller:
        """The caller, admitted and charged once for all of `requests` (an OpenAI request's
        choices)."""
        return replace(caller, admitted=await self._admit(rpc, caller, *requests))

    def _reason_call(self, request: pb.ReasonRequest, call: Call) -> ReasonCall:
        return reason_call_from_proto(
            request,
            reasoning_id=new_reasoning_id(),
            config=self._config.planner,
            adapters=self._adapters,
            scope=self._scope(call.identity),
            students=self._students,
            tenant=call.identity.tenant,
        )

    def _scope(self, identity: Identity) -> str:
        """The scorer a caller uses and trains: its tenant's (per_tenant), else shared."""
        return scorer_scope(identity.tenant, self._config.planner.learning.per_tenant)

    def _encoders(self) -> DeploymentHandle:
        if self._encoder is None:
            raise Unavailable("the encoder pool is off on this server (encoder.enabled)")
        return self._encoder

    def _learning_log(self) -> OutcomeLog:
        if self._outcome_log is not None:
            return self._outcome_log
        raise Unavailable("outcome learning is off on this server (no Redis or disabled)")

    def _generation_request(
        self, request: pb.GenerateRequest, request_id: str
    ) -> GenerationRequest:
        return generation_request_from_proto(
            request,
            request_id=request_id,
            limits=self._config.ingress.limits,
            max_logprobs=self._config.decoder.engine.max_logprobs,
            adapters=self._adapters,
            students=self._students,
        )
