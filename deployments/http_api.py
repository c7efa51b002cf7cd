"""The HTTP/JSON front door: OpenAI's chat/completions API and Ponder's own endpoints,
served by the same Ingress deployment as gRPC (Serve's HTTP proxy, FastAPI).

Every route turns its JSON into the ponder.v1 request a gRPC caller would send and makes
the same call the gRPC door makes — the Ingress's `unary` / `streaming`, with the caller's
headers as its metadata: authentication, rate limits, validation, metrics and tracing are
shared, once, and a call's error comes back as an exception each door maps itself: here
OpenAI's error JSON with the matching HTTP status. Streams are server-sent events. A
client that disconnects cancels the call, which aborts the generation in vLLM.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

import grpc
from fastapi import BackgroundTasks, FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from google.protobuf import json_format

from deployments.console import console_router
from deployments.grpc_calls import Caller
from deployments.http_exchange import (
    BAD_BODY,
    AnalyzeBody,
    caller_of,
    error_response,
    failure,
    failure_event,
    json_body,
    proto_json,
    read_json_body,
    refusal,
    sse,
)
from ponder.api.grpc_status import status_for
from ponder.api.openai_convert import (
    ChatCompletionRequest,
    CompletionRequest,
    chat_chunk,
    chat_completion,
    chat_to_generate,
    completion_to_generate,
    text_chunk,
    text_completion,
    usage_chunk,
)
from ponder.errors import InvalidArgument, PonderError
from ponder.security.auth import Authenticator
from ponder.v1 import ponder_pb2 as pb

http_app = FastAPI(
    title="Ponder",
    version="v1",
    description="OpenAI-compatible chat/completions and Ponder's reasoning, outcome, "
    "scorer and analysis endpoints. Every route needs `Authorization: Bearer <token>`.",
    # No unauthenticated schema or docs pages: the schema is committed as protos/openapi.json.
    docs_url=None,
    redoc_url=None,
    openapi_url=None,
)
http_app.include_router(console_router)


class HttpFrontDoor:
    """Routes of the HTTP API; mixed into the Ingress deployment, whose RPC methods they
    call (see the module docstring)."""

    # Provided by the Ingress: the calls both front doors make (see its `unary` and
    # `streaming`), and what the routes need to know of its configuration.
    unary: Callable[[str, Any, Caller], Awaitable[Any]]
    streaming: Callable[[str, Any, Caller], AsyncIterator[Any]]
    admit_all: Callable[[str, Caller, list[Any]], Awaitable[Caller]]
    _adapters: frozenset[str]
    _students: frozenset[str]
    _http_body_limit: int
    _http_enabled: bool
    _auth: Authenticator | None

    def _closed(self) -> JSONResponse | None:
        """The answer of every route while the HTTP API is switched off, else None."""
        if self._http_enabled:
            return None
        return error_response(
            grpc.StatusCode.NOT_FOUND, "the HTTP API is off on this server (ingress.http_enabled)"
        )

    def _refused_before_reading(self, request: Request, *rpcs: str) -> JSONResponse | None:
        """The answer, before the body is read, to a call the API is off for or whose token
        may call none of rpcs: an unauthenticated body costs no memory or parsing."""
        if (closed := self._closed()) is not None:
            return closed
        if self._auth is None:
            return None
        refusal: PonderError | None = None
        for rpc in rpcs:
            try:
                self._auth.identify(request.headers.get("authorization", ""), rpc)
                return None
            except PonderError as error:
                refusal = refusal or error
        assert refusal is not None
        code, details = status_for(refusal, "")
        return error_response(code, details)

    # -- OpenAI ---------------------------------------------------------------------------

    @http_app.get("/v1/models")
    async def openai_models(self, request: Request) -> Response:
        if (closed := self._closed()) is not None:
            return closed
        caller = caller_of(request)
        try:
            listed = await self.unary("ListModels", pb.ListModelsRequest(), caller)
        except Exception as error:
            return failure(error, caller)
        data = [
            {"id": m.name, "object": "model", "created": 0, "owned_by": "ponder"}
            for m in listed.models
        ]
        return JSONResponse({"object": "list", "data": data})

    @http_app.post(
        "/v1/chat/completions",
        openapi_extra=json_body(ChatCompletionRequest, "OpenAI chat completion request"),
    )
    async def chat_completions(self, request: Request) -> Response:
        return await self._openai(request, "chat")

    @http_app.post(
        "/v1/completions",
        openapi_extra=json_body(CompletionRequest, "OpenAI completion request"),
    )
    async def completions(self, request: Request) -> Response:
        return await self._openai(request, "text")

    async def _openai(self, request: Request, kind: str) -> Response:
        if refused := self._refused_before_reading(request, "Generate", "StreamGenerate"):
            return refused
        caller = caller_of(request)
        try:
            body = await read_json_body(request, self._http_body_limit)
            if kind == "chat":
                chat = ChatCompletionRequest.model_validate(body)
                calls = chat_to_generate(chat, self._adapters, self._students)
                parsed: ChatCompletionRequest | CompletionRequest = chat
                with_logprobs = chat.logprobs
            else:
                text = CompletionRequest.model_validate(body)
                calls = completion_to_generate(text, self._adapters, self._students)
                parsed, with_logprobs = text, text.logprobs is not None
        except BAD_BODY as error:
            return refusal(error)
        rpc = "StreamGenerate" if parsed.stream else "Generate"
        try:  # n choices are admitted and charged once, for all of them
            caller = await self.admit_all(rpc, caller, calls)
        except Exception as error:
            return failure(error, caller)
        callers = _choice_callers(caller, len(calls))
        if parsed.stream:
            return await self._openai_stream(callers, calls, parsed, kind, with_logprobs)
        tasks = [
            asyncio.ensure_future(self.unary("Generate", call, each))
            for call, each in zip(calls, callers, strict=True)
        ]
        try:
            answers = await asyncio.gather(*tasks)
        except Exception as error:
            return failure(error, caller)
        finally:
            for task in tasks:  # the first failure (or a client gone) stops the others
                task.cancel()
        shape = chat_completion if kind == "chat" else text_completion
        return JSONResponse(shape(answers, parsed.model, with_logprobs))

    async def _openai_stream(
        self,
        callers: list[Caller],
        calls: list[pb.GenerateRequest],
        parsed: ChatCompletionRequest | CompletionRequest,
        kind: str,
        with_logprobs: bool,
    ) -> Response:
        """SSE: the choices' chunks as they come ([DONE] last); a failure before the first
        chunk is an HTTP error, after it an error event."""
        # (choice, chunk or None when the choice ended, the error it ended with)
        queue: asyncio.Queue[tuple[int, pb.GenerateResponse | None, Exception | None]] = (
            asyncio.Queue()
        )

        caller = callers[0]

        async def pump(index: int, call: pb.GenerateRequest) -> None:
            try:
                async for chunk in self.streaming("StreamGenerate", call, callers[index]):
                    await queue.put((index, chunk, None))
            except Exception as error:
                await queue.put((index, None, error))
                return
            await queue.put((index, None, None))

        tasks = [asyncio.create_task(pump(i, call)) for i, call in enumerate(calls)]

        def stop() -> None:  # a client gone, a failure, or the end: no generation left
            for task in tasks:
                task.cancel()

        try:
            first = await queue.get()
        except BaseException:
            stop()  # the client went away before the first chunk
            raise
        if first[2] is not None:
            stop()
            return failure(first[2], caller)
        options = (parsed.model_extra or {}).get("stream_options") or {}
        include_usage = isinstance(options, dict) and bool(options.get("include_usage"))

        async def events() -> AsyncIterator[bytes]:
            finished, started = 0, set()
            last: dict[int, pb.GenerateResponse] = {}
            item: tuple[int, pb.GenerateResponse | None, Exception | None] | None = first
            try:
                while finished < len(calls):
                    index, chunk, error = item if item is not None else await queue.get()
                    item = None
                    if error is not None:
                        yield failure_event(error, caller)
                        return
                    if chunk is None:
                        finished += 1
                        continue
                    last[index] = chunk
                    if kind == "chat":
                        yield sse(
                            chat_chunk(
                                chunk, index, parsed.model, index not in started, with_logprobs
                            )
                        )
                    else:
                        yield sse(text_chunk(chunk, index, parsed.model, with_logprobs))
                    started.add(index)
                if include_usage and last:
                    ordered = [last[i] for i in sorted(last)]
                    yield sse(usage_chunk(ordered[0].request_id, parsed.model, kind, ordered))
                yield sse("[DONE]")
            finally:
                stop()  # a client that went away cancels the generations

        # The background task runs even when the body never started.
        cleanup = BackgroundTasks()
        cleanup.add_task(stop)
        return StreamingResponse(events(), media_type="text/event-stream", background=cleanup)

    # -- Ponder's own endpoints -----------------------------------------------------------

    @http_app.post("/v1/reason", openapi_extra=json_body(pb.ReasonRequest, "A reasoning request"))
    async def reason(self, request: Request) -> Response:
        return await self._proto_route(request, pb.ReasonRequest, "Reason", "StreamReason")

    @http_app.post(
        "/v1/outcomes",
        openapi_extra=json_body(pb.ReportOutcomeRequest, "An outcome of a reasoning"),
    )
    async def outcomes(self, request: Request) -> Response:
        return await self._proto_route(request, pb.ReportOutcomeRequest, "ReportOutcome")

    @http_app.get("/v1/list-models")
    async def models(self, request: Request) -> Response:
        """ListModels as its proto JSON: decoder sets, adapters, students, their metrics."""
        return await self._proto_answer(request, "ListModels", pb.ListModelsRequest())

    @http_app.get("/v1/scorer")
    async def scorer(self, request: Request) -> Response:
        return await self._proto_answer(request, "GetScorer", pb.GetScorerRequest())

    @http_app.post(
        "/v1/analyze", openapi_extra=json_body(AnalyzeBody, "Text plus image and/or table")
    )
    async def analyze(self, request: Request) -> Response:
        if refused := self._refused_before_reading(request, "Analyze", "StreamAnalyze"):
            return refused
        caller = caller_of(request)
        try:
            body = AnalyzeBody.model_validate(await read_json_body(request, self._http_body_limit))
            message = body.to_proto()
        except BAD_BODY as error:
            return refusal(error)
        if body.stream:
            return await self._proto_stream(caller, "StreamAnalyze", message)
        try:
            answer = await self.unary("Analyze", message, caller)
        except Exception as error:
            return failure(error, caller)
        return JSONResponse({"analysis": answer.text, **proto_json(answer)})

    async def _proto_answer(self, request: Request, rpc: str, message: Any) -> Response:
        """A unary call whose answer goes back as its proto JSON."""
        if (closed := self._closed()) is not None:
            return closed
        caller = caller_of(request)
        try:
            answer = await self.unary(rpc, message, caller)
        except Exception as error:
            return failure(error, caller)
        return JSONResponse(proto_json(answer))

    async def _proto_route(
        self, request: Request, message_type: Any, unary: str, streaming: str | None = None
    ) -> Response:
        """A route whose JSON body is the proto message's JSON form (`stream: true` for the
        streaming RPC)."""
        rpcs = [unary] + ([streaming] if streaming is not None else [])
        if refused := self._refused_before_reading(request, *rpcs):
            return refused
        caller = caller_of(request)
        try:
            body = await read_json_body(request, self._http_body_limit)
            if not isinstance(body, dict):
                raise InvalidArgument("body", "expected a JSON object")
            stream = bool(body.pop("stream", False))
            message = json_format.ParseDict(body, message_type())
        except BAD_BODY as error:
            return refusal(error)
        if stream and streaming is not None:
            return await self._proto_stream(caller, streaming, message)
        try:
            answer = await self.unary(unary, message, caller)
        except Exception as error:
            return failure(error, caller)
        return JSONResponse(proto_json(answer))

    async def _proto_stream(self, caller: Caller, rpc: str, message: Any) -> Response:
        """A streaming call as server-sent events, one per message ([DONE] last); a failure
        before the first message is an HTTP error, after it an error event."""
        iterator = self.streaming(rpc, message, caller).__aiter__()
        try:
            first = await iterator.__anext__()
        except StopAsyncIteration:
            first = None
        except Exception as error:
            return failure(error, caller)

        async def events() -> AsyncIterator[bytes]:
            try:
                if first is not None:
                    yield sse(proto_json(first))
                async for each in iterator:
                    yield sse(proto_json(each))
            except Exception as error:
                yield failure_event(error, caller)
                return
            finally:
                await iterator.aclose()  # type: ignore[attr-defined]
            yield sse("[DONE]")

        return StreamingResponse(events(), media_type="text/event-stream")


def _choice_callers(caller: Caller, choices: int) -> list[Caller]:
    """One caller per choice, each with a request id of its own (the engine's request id:
    an abort or a trace names one choice), all sharing the admitted identity."""
    if choices == 1:
        return [caller]
    return [replace(caller, request_id=f"{caller.request_id}-{i}") for i in range(choices)]
