"""What a call may cost, for the rate limiter: the most decoder tokens it may generate,
read from the request before any work is done (a value the handler later refuses as
invalid is capped here, so the cost stays bounded)."""

from __future__ import annotations

from dataclasses import dataclass

from ponder.config import PonderConfig
from ponder.v1 import ponder_pb2 as pb


@dataclass(frozen=True)
class CostDefaults:
    """The server's defaults for what a request leaves unset."""

    generate_max_tokens: int  # decoder.engine.default_max_tokens
    reason_max_tokens: int  # planner.default_max_tokens (all branches together)
    reason_max_tokens_limit: int  # planner.max_tokens_limit
    generate_max_tokens_limit: int  # the engine's context length

    @classmethod
    def of(cls, config: PonderConfig) -> CostDefaults:
        """The defaults of a server with this config."""
        return cls(
            generate_max_tokens=config.decoder.engine.default_max_tokens,
            reason_max_tokens=config.planner.default_max_tokens,
            reason_max_tokens_limit=config.planner.max_tokens_limit,
            generate_max_tokens_limit=config.decoder.engine.max_model_len,
        )


def requested_tokens(request: object, defaults: CostDefaults) -> int:
    """The most decoder tokens `request` may generate (0 for calls that generate none)."""
    if isinstance(request, pb.ReasonRequest):
        budget = request.budget
        asked = budget.max_tokens if budget.HasField("max_tokens") else defaults.reason_max_tokens
        return min(asked, defaults.reason_max_tokens_limit)
    if isinstance(request, pb.GenerateRequest | pb.AnalyzeRequest):
        sampling = request.sampling
        asked = (
            sampling.max_tokens
            if sampling.HasField("max_tokens") and sampling.max_tokens > 0
            else defaults.generate_max_tokens
        )
        return min(asked, defaults.generate_max_tokens_limit)
    return 0
