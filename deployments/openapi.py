"""The HTTP API's OpenAPI document, committed as protos/openapi.json (a unit test keeps it
in sync): `python -m deployments.openapi` rewrites it. The routes are complete once the
Ingress class has bound them (serve.ingress), so this module imports both."""

from __future__ import annotations

import json
from typing import Any

import deployments.ingress  # noqa: F401  (binds the routes to http_app)
from deployments.http_api import http_app

OPENAPI_FILE = "protos/openapi.json"


def openapi_document() -> dict[str, Any]:
    return http_app.openapi()


if __name__ == "__main__":
    from ponder import env

    target = env.REPO_ROOT / OPENAPI_FILE
    target.write_text(json.dumps(openapi_document(), indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {target}")
