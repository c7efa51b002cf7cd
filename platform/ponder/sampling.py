"""Sampling presets and the checks every sampling option must pass."""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence

from ponder.errors import InvalidArgument
from ponder.generation import SamplingOptions


class Preset(enum.Enum):
    """Named sampling presets offered to callers."""

    NONE = "none"
    REPORT = "report"
    CREATIVE = "creative"


PRESET_TEMPERATURE: dict[Preset, float] = {
    Preset.NONE: 0.0,
    Preset.REPORT: 0.7,
    Preset.CREATIVE: 1.2,
}

MAX_TEMPERATURE = 2.0


def resolve_sampling(
    *,
    preset: Preset = Preset.NONE,
    temperature: float | None = None,
    top_p: float | None = None,
    max_tokens: int | None = None,
    seed: int | None = None,
    stop: Sequence[str] = (),
    logprobs: int | None = None,
    min_tokens: int | None = None,
    max_stop_strings: int = 16,
    max_stop_chars: int = 256,
    max_logprobs: int = 20,
) -> SamplingOptions:
    """Apply the preset, let explicit values override it, and check every value.

    Raises InvalidArgument naming the first offending field.
    """
    resolved_temperature = PRESET_TEMPERATURE[preset] if temperature is None else temperature
    if (
        not math.isfinite(resolved_temperature)
        or not 0.0 <= resolved_temperature <= MAX_TEMPERATURE
    ):
        raise InvalidArgument(
            "sampling.temperature", f"must be between 0 and {MAX_TEMPERATURE:g}, got {temperature}"
        )
    resolved_top_p = 1.0 if top_p is None else top_p
    if not math.isfinite(resolved_top_p) or not 0.0 < resolved_top_p <= 1.0:
        raise InvalidArgument("sampling.top_p", f"must be in (0, 1], got {top_p}")
    if max_tokens is not None and max_tokens < 1:
        raise InvalidArgument("sampling.max_tokens", f"must be at least 1, got {max_tokens}")
    resolved_min_tokens = min_tokens or 0
    if resolved_min_tokens < 0:
        raise InvalidArgument("sampling.min_tokens", f"must be at least 0, got {min_tokens}")
    if max_tokens is not None and resolved_min_tokens > max_tokens:
        raise InvalidArgument(
            "sampling.min_tokens", f"{min_tokens} exceeds max_tokens {max_tokens}"
        )
    if len(stop) > max_stop_strings:
        raise InvalidArgument(
            "sampling.stop", f"at most {max_stop_strings} stop strings, got {len(stop)}"
        )
    if any(not s for s in stop):
        raise InvalidArgument("sampling.stop", "stop strings must not be empty")
    longest = max((len(s) for s in stop), default=0)
    if longest > max_stop_chars:
        raise InvalidArgument(
            "sampling.stop", f"a stop string of {longest} characters exceeds {max_stop_chars}"
        )
    if logprobs is not None and not 0 <= logprobs <= max_logprobs:
        raise InvalidArgument("sampling.logprobs", f"must be 0 to {max_logprobs}, got {logprobs}")
    return SamplingOptions(
        temperature=resolved_temperature,
        top_p=resolved_top_p,
        max_tokens=max_tokens,
        seed=seed,
        stop=tuple(stop),
        logprobs=logprobs,
        min_tokens=resolved_min_tokens,
    )
