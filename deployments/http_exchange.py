"""How an HTTP request meets the calls both front doors share and how its answer goes back:
the caller from the headers, a call's failure as an HTTP status and OpenAI's error JSON,
request bodies read within their limit, server-sent events and proto JSON. The routes
that use them are in http_api.py."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

import grpc
from fastapi import Request
from fastapi.responses import JSONResponse
from google.protobuf import json_format
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from deployments.grpc_calls import Caller, describe_failure
from ponder.errors import InvalidArgument, PonderError
from ponder.v1 import ponder_pb2 as pb

HTTP_STATUS = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}


def inline_refs(schema: Any, defs: dict[str, Any]) -> Any:
    if isinstance(schema, dict):
        ref = schema.get("$ref", "")
        if ref.startswith("#/$defs/"):
            return inline_refs(defs[ref.removeprefix("#/$defs/")], defs)
        return {k: inline_refs(v, defs) for k, v in schema.items() if k != "$defs"}
    if isinstance(schema, list):
        return [inline_refs(item, defs) for item in schema]
    return schema


def json_body(model: type[BaseModel] | Any, description: str) -> dict[str, Any]:
    """OpenAPI text for a route that reads its JSON body itself (to refuse oversized bodies
    before parsing): a pydantic model's schema, or a proto message's name."""
    if isinstance(model, type) and issubclass(model, BaseModel):
        schema = model.model_json_schema()
        schema = inline_refs(schema, schema.get("$defs", {}))
    else:
        schema = {
            "type": "object",
            "description": f"The JSON form of ponder.v1.{model.DESCRIPTOR.name} "
            "(protos/ponder/v1/ponder.proto); `stream: true` for the streaming RPC.",
        }
    content = {"application/json": {"schema": schema}}
    return {"requestBody": {"required": True, "description": description, "content": content}}


def caller_of(request: Request) -> Caller:
    """The caller of an HTTP request: its headers as the call's metadata."""
    return Caller.of(request.headers.items())


def error_response(code: grpc.StatusCode, details: str, trailers: Any = ()) -> JSONResponse:
    """OpenAI's error JSON with the HTTP status of a gRPC code (Retry-After on 429)."""
    status = HTTP_STATUS.get(code, 500)
    headers = {}
    for key, value in trailers:
        if key == "retry-after-ms":
            headers["Retry-After"] = str(max(1, -(-int(value) // 1000)))
    body = {
        "error": {
            "message": details,
            "type": ERROR_TYPES.get(status, "server_error"),
            "param": None,
            "code": code.name.lower(),
        }
    }
    return JSONResponse(body, status_code=status, headers=headers)


def refusal(error: Exception) -> JSONResponse:
    """The answer to a body that could not become a request: 413 when it is too large,
    else 400 naming the problem."""
    if isinstance(error, BodyTooLarge):
        body = {
            "error": {
                "message": str(error),
                "type": "invalid_request_error",
                "param": None,
                "code": "request_too_large",
            }
        }
        return JSONResponse(body, status_code=413)
    details = first_problem(error) if isinstance(error, ValidationError) else str(error)
    return error_response(grpc.StatusCode.INVALID_ARGUMENT, details)


def failure(error: BaseException, caller: Caller) -> JSONResponse:
    """The answer to a call that ended with error: its status as OpenAI's error JSON."""
    described = describe_failure(error, caller.request_id)
    return error_response(described.code, described.details, described.trailers)


def failure_event(error: BaseException, caller: Caller) -> bytes:
    """The same, as the last server-sent event of a stream that had started."""
    return sse(json.loads(bytes(failure(error, caller).body)))


def sse(payload: dict[str, Any] | str) -> bytes:
    data = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
    return f"data: {data}\n\n".encode()


def proto_json(message: Any) -> dict[str, Any]:
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


async def read_json_body(request: Request, limit: int) -> Any:
    """The request's JSON, refused (413) before it is read when it declares more bytes
    than the limit, or once more than that have arrived."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(limit)
    body = bytearray()
    async for part in request.stream():
        body.extend(part)
        if len(body) > limit:
            raise BodyTooLarge(limit)
    try:
        return json.loads(body)
    except ValueError as error:
        raise InvalidArgument("body", f"not JSON: {error}") from None
    except RecursionError:
        raise InvalidArgument("body", "JSON nested too deeply") from None


class BodyTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"request body over {limit} bytes")


# What reading and converting a body may raise: each becomes a 413 or a 400 (refusal).
BAD_BODY = (BodyTooLarge, ValidationError, PonderError, json_format.ParseError)


class AnalyzeBody(BaseModel):
    """POST /v1/analyze: the seed's shape, text plus a base64 image and/or a JSON table."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(description="The question about the inputs.")
    image: str = Field("", description="Base64 image (PNG/JPEG), optional.")
    table: Any = Field(None, description="A JSON table (list of rows or an object), optional.")
    sampling: dict[str, Any] = Field(default_factory=dict, description="SamplingOptions JSON.")
    model: str = Field("", description="Decoder replica set (as GenerateRequest.model).")
    stream: bool = Field(False, description="Server-sent events, one per chunk.")

    def to_proto(self) -> pb.AnalyzeRequest:
        try:
            image = base64.b64decode(self.image, validate=True) if self.image else b""
        except (binascii.Error, ValueError):
            raise InvalidArgument("image", "not base64") from None
        request = pb.AnalyzeRequest(text=self.text, image=image, model=self.model)
        if self.table is not None:
            request.table_json = json.dumps(self.table)
        json_format.ParseDict(self.sampling, request.sampling)
        return request


def first_problem(error: ValidationError) -> str:
    problem = error.errors()[0]
    where = ".".join(str(part) for part in problem["loc"]) or "body"
    return f"{where}: {problem['msg']}"
