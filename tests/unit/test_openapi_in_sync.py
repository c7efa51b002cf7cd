"""The committed OpenAPI document of the HTTP API matches the routes (regenerate it with
`python -m deployments.openapi`)."""

from __future__ import annotations

import json

from deployments.openapi import OPENAPI_FILE, openapi_document
from ponder import env


def test_committed_openapi_matches_the_routes() -> None:
    committed = json.loads((env.REPO_ROOT / OPENAPI_FILE).read_text())
    current = openapi_document()
    assert committed == current, "stale protos/openapi.json: run python -m deployments.openapi"
    paths = current["paths"]
    for path in ("/v1/chat/completions", "/v1/completions", "/v1/models", "/v1/reason",
                 "/v1/outcomes", "/v1/scorer", "/v1/analyze"):  # fmt: skip
        assert path in paths
    chat = paths["/v1/chat/completions"]["post"]
    # Routes of the Ingress class: no stray `self` parameter, a documented JSON body.
    assert not [p for p in chat.get("parameters", []) if p["name"] == "self"]
    assert "messages" in chat["requestBody"]["content"]["application/json"]["schema"]["properties"]
