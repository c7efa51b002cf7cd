"""Multimodal core without services: input checks, preprocessing, encoders, fusion."""

from __future__ import annotations

import io
import json
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from ponder.errors import InvalidArgument
from ponder.multimodal.encoders import ImageEncoder, TableEncoder
from ponder.multimodal.fusion import CrossModalAttention, fused_prompt
from ponder.multimodal.inputs import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    ImageLimits,
    TableLimits,
    decode_image,
    parse_table,
    preprocess_image,
)


def _image_bytes(size: tuple[int, int], kind: str = "PNG", color: str = "red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, kind)
    return buffer.getvalue()


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height (a decompression bomb's shape)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def test_images_decode_to_rgb_and_preprocess_to_normalised_224() -> None:
    for kind in ("PNG", "JPEG"):
        image = decode_image(_image_bytes((320, 200), kind), ImageLimits())
        assert image.mode == "RGB" and image.size == (320, 200)
    pixels = preprocess_image(decode_image(_image_bytes((50, 80), color="white"), ImageLimits()))
    assert pixels.shape == (3, 224, 224) and pixels.dtype == np.float32
    expected = (1.0 - IMAGENET_MEAN) / IMAGENET_STD
    assert np.allclose(pixels[:, 100, 100], expected, atol=1e-5)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"GIF89a" + b"\x00" * 64, "not a PNG or JPEG"),
        (_image_bytes((64, 64))[:60], "corrupt PNG"),
        (_png_header_only(5000, 10), "exceeds the limit"),
        (_png_header_only(4000, 4000), None),  # within 4096 per side, 16 M pixels: corrupt
        (_png_header_only(60000, 60000), "too many pixels"),  # Pillow refuses at open
    ],
)
def test_bad_images_are_invalid_arguments(data: bytes, reason: str | None) -> None:
    with pytest.raises(InvalidArgument, match=r"^image") as caught:
        decode_image(data, ImageLimits())
    if reason:
        assert reason in caught.value.message


def test_image_byte_limit() -> None:
    with pytest.raises(InvalidArgument, match="exceeds the limit of 100"):
        decode_image(_image_bytes((64, 64)), ImageLimits(max_bytes=100))


def test_tables_parse_and_bad_tables_name_the_problem() -> None:
    table = parse_table(
        json.dumps({"columns": ["city", "pop"], "rows": [["A", 1], ["B", 2.5], ["C", None]]}),
        TableLimits(),
    )
    assert table.columns == ("city", "pop") and table.rows[1] == ("B", "2.5")
    assert table.cells == 6 and "A | 1" in table.as_text()
    bad = [
        ("{not json", "table: malformed JSON"),
        ('{"columns": ["a"]}', "table: expected"),
        ('{"columns": [], "rows": [[1]]}', "table.columns"),
        ('{"columns": ["a", "b"], "rows": [[1, 2], [3]]}', "table.rows[1]: has 1 cells"),
        ('{"columns": ["a"], "rows": [[{"x": 1}]]}', "table.rows[0]"),
        (json.dumps({"columns": ["a", "b"], "rows": [[1, 2]] * 20}), "table: 40 cells exceeds"),
    ]
    for text, message in bad:
        with pytest.raises(InvalidArgument) as caught:
            parse_table(text, TableLimits(max_cells=30))
        assert caught.value.message.startswith(message), caught.value.message


def test_cross_attention_shapes_and_the_initial_gate_leaves_text_unchanged() -> None:
    torch.manual_seed(0)
    fusion = CrossModalAttention(width=64, heads=8)
    text, memory = torch.randn(2, 5, 64), torch.randn(2, 7, 64)
    mask = torch.ones(2, 7, dtype=torch.bool)
    mask[1, 4:] = False
    assert fusion.attention(text, memory, mask).shape == (2, 5, 64)
    assert torch.equal(fusion(text, memory, mask), text)  # gate 0: plain text prompt
    prompt = fused_prompt(fusion, text[0], memory[0])
    assert prompt.shape == (12, 64) and torch.equal(prompt[7:], text[0])
    with torch.no_grad():
        fusion.gate.fill_(1.0)
    assert not torch.allclose(fusion(text, memory, mask), text)
    # Masked memory positions get no attention weight.
    changed = memory.clone()
    changed[1, 4:] += 100.0
    assert torch.allclose(fusion(text, memory, mask)[1], fusion(text, changed, mask)[1])


def test_table_encoder_gives_one_vector_per_cell_and_a_summary() -> None:
    encoder = TableEncoder(token_width=12, embed_dim=16, hidden=8)
    first, second = torch.randn(3, 12), torch.randn(2, 12)
    cells, summary = encoder([first, second])
    assert [c.shape for c in cells] == [(3, 16), (2, 16)]
    assert summary.shape == (2, 16)
    again, _ = encoder([first])
    assert torch.allclose(again[0], cells[0], atol=1e-6)  # padding does not leak


def test_image_encoder_is_resnet101_with_7x7_regions_and_deterministic() -> None:
    encoder = ImageEncoder(seed=3)
    assert sum(p.numel() for p in encoder.parameters()) == pytest.approx(42.5e6, rel=0.01)
    pixels = torch.zeros(1, 3, 224, 224)
    with torch.no_grad():
        regions = encoder(pixels)
        assert regions.shape == (1, 49, 2048)
        assert torch.equal(ImageEncoder(seed=3)(pixels), regions)
