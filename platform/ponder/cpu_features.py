"""What this machine's CPU offers the engine: its model name and the x86 instruction
sets vLLM's CPU kernels speed up with (bf16 and int8 matrix products). Read from
/proc/cpuinfo; empty where there is none (not Linux)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")
# The flags that decide how fast 16-bit and 8-bit matrix products run on x86: without
# any of them (AVX2 only) oneDNN emulates bf16 and int8 runs through slower paths.
MATMUL_FLAGS = (
    "avx2",
    "avx512f",
    "avx512_bf16",
    "avx512_vnni",
    "avx_vnni",
    "amx_bf16",
    "amx_int8",
)
# Any of these gives int8 dot products in hardware, which vLLM's W8A8 kernels use.
INT8_DOT_FLAGS = ("amx_int8", "avx512_vnni", "avx_vnni")


def _fields(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            break  # the first processor's block is enough
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return fields


@cache
def _first_processor() -> dict[str, str]:
    try:
        return _fields(CPUINFO.read_text())
    except OSError:
        return {}


def cpu_model() -> str:
    return _first_processor().get("model name", "")


def matmul_flags(cpuinfo: str | None = None) -> tuple[str, ...]:
    """The MATMUL_FLAGS this CPU (or the given /proc/cpuinfo text) has."""
    fields = _fields(cpuinfo) if cpuinfo is not None else _first_processor()
    flags = set(fields.get("flags", "").split())
    return tuple(flag for flag in MATMUL_FLAGS if flag in flags)


def has_int8_dot(cpuinfo: str | None = None) -> bool:
    """Whether int8 dot products run in hardware (AMX or VNNI)."""
    return any(flag in INT8_DOT_FLAGS for flag in matmul_flags(cpuinfo))
