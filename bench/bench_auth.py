"""A token without a rate limit for benchmarks of the platform's own admission.

The local client token belongs to tenant 'local', whose limit (50 calls/s, burst 100 in
config/serve-local.yaml) would refuse a burst before the platform's queues see it. A
benchmark start gets its own token file (in a temporary folder) with one token for tenant
'bench', which has no limit, and exports it as PONDER_API_TOKEN so every call of the
benchmark process sends it."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any


def use_unlimited_token(data: dict[str, Any]) -> Path:
    """Point the Serve config's auth at a fresh token file holding one unlimited token,
    and make this process send it; returns the folder (remove it after the run)."""
    from ponder.security.tokens import add_token

    folder = Path(tempfile.mkdtemp(prefix="ponder-bench-auth-"))
    tokens = folder / "tokens.yaml"
    value, _ = add_token(tokens, "bench")
    auth = data["applications"][0]["args"].setdefault("auth", {})
    auth.update(token_file=str(tokens), create_local_token=False, default_rate_limit=None)
    os.environ["PONDER_API_TOKEN"] = value
    return folder
