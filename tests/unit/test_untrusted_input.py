"""Untrusted input is refused with INVALID_ARGUMENT naming the problem, before it costs
memory or a worker: forged image headers, JSON bombs, oversized stop strings; Serve's
backpressure becomes RESOURCE_EXHAUSTED with a retry hint."""

from __future__ import annotations

import io
import struct
import time
import zlib

import pytest
from PIL import Image

from ponder.errors import InvalidArgument, ResourceExhausted
from ponder.multimodal.inputs import ImageLimits, TableLimits, decode_image, parse_table
from ponder.sampling import resolve_sampling


def _png_header_claiming(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims width x height but whose data is a few bytes."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    data = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )


def test_a_tiny_file_claiming_a_huge_image_is_refused_before_decoding() -> None:
    forged = _png_header_claiming(4096, 4096)
    assert len(forged) < 300
    started = time.perf_counter()
    with pytest.raises(InvalidArgument, match="cannot hold the 4096x4096 pixels"):
        decode_image(forged, ImageLimits())
    assert time.perf_counter() - started < 0.5  # nothing of 4096x4096 was allocated


def test_a_real_image_of_one_colour_still_decodes() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (1024, 1024), (255, 255, 255)).save(buffer, "PNG", optimize=True)
    assert decode_image(buffer.getvalue(), ImageLimits()).size == (1024, 1024)
    buffer = io.BytesIO()
    Image.new("RGB", (1024, 1024), (0, 0, 0)).save(buffer, "JPEG", quality=10)
    assert decode_image(buffer.getvalue(), ImageLimits()).size == (1024, 1024)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[" * 100_000, "nested 100000 levels"),
        ('{"columns": ["a"], "rows": [[' + "9" * 5000 + "]]}", "unreadable JSON"),
        ('{"columns": [' + '{"a": ' * 12 + "1" + "}" * 12 + '], "rows": [[1]]}', "nested 14"),
        ('{"columns": ["a"], "rows": [[1]', "malformed JSON"),
    ],
    ids=["bracket-bomb", "huge-integer", "deep-objects", "truncated"],
)
def test_malformed_tables_are_invalid_argument_naming_the_problem(text: str, named: str) -> None:
    with pytest.raises(InvalidArgument, match=named):
        parse_table(text, TableLimits())


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    table = parse_table(
        '{"columns": ["[[[[[[[[[[", "{{{{"], "rows": [["a]", "b}"]]}', TableLimits()
    )
    assert table.columns == ("[[[[[[[[[[", "{{{{")


def test_a_stop_string_is_capped_in_length() -> None:
    with pytest.raises(InvalidArgument, match="stop string of 100000 characters"):
        resolve_sampling(stop=["x" * 100_000], max_stop_chars=256)
    assert resolve_sampling(stop=["\n\n"], max_stop_chars=256).stop == ("\n\n",)


def test_serve_backpressure_becomes_resource_exhausted_with_a_hint() -> None:
    from ray.exceptions import RayTaskError
    from ray.serve.exceptions import BackPressureError

    from deployments.remote_errors import original_error

    full = BackPressureError(num_queued_requests=512, max_queued_requests=512)
    wrapped = RayTaskError("Decoder.complete", "traceback", full)
    for error in (full, wrapped):
        mapped = original_error(error)
        assert isinstance(mapped, ResourceExhausted)
        assert mapped.retry_after_s and "max_queued_requests=512" in mapped.message
