"""The CPU's matmul instruction sets, read from /proc/cpuinfo text."""

from __future__ import annotations

from ponder.cpu_features import has_int8_dot, matmul_flags

EPYC_AVX2 = """processor\t: 0
model name\t: AMD EPYC
flags\t\t: fpu sse sse2 avx avx2 fma bmi2

processor\t: 1
model name\t: AMD EPYC
flags\t\t: fpu sse sse2 avx avx2 fma bmi2 amx_int8
"""

XEON_AMX = """processor\t: 0
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: avx2 avx512f avx512_vnni avx512_bf16 amx_bf16 amx_tile amx_int8
"""


def test_avx2_only_has_no_int8_dot_products() -> None:
    # the first processor's block decides (the second one's amx_int8 is not read)
    assert matmul_flags(EPYC_AVX2) == ("avx2",)
    assert not has_int8_dot(EPYC_AVX2)


def test_amx_and_vnni_are_int8_dot_products() -> None:
    assert matmul_flags(XEON_AMX) == (
        "avx2",
        "avx512f",
        "avx512_bf16",
        "avx512_vnni",
        "amx_bf16",
        "amx_int8",
    )
    assert has_int8_dot(XEON_AMX)
    assert has_int8_dot("flags\t: avx2 avx_vnni\n")
    assert not has_int8_dot("")
