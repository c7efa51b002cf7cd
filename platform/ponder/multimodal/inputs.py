"""Untrusted image and table input, checked before any model sees it.

Images: PNG or JPEG only (by their magic bytes and by what Pillow finds), at most
`max_bytes`, at most `max_side` pixels per side and `max_side`² pixels in total (checked
from the header, before decoding, so decompression bombs never expand), fully decoded to
RGB (a truncated or corrupt file fails here). Tables: `{"columns": [...], "rows": [[...]]}`
JSON, every row as long as the header, at most `max_cells` cells.
Every problem is an InvalidArgument naming the field.
"""

from __future__ import annotations

import io
import json
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ponder.errors import InvalidArgument

IMAGE_SIZE = 224
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
_MAGIC = {b"\x89PNG\r\n\x1a\n": "PNG", b"\xff\xd8\xff": "JPEG"}
# The most a file of each kind can be compressed: deflate tops out near 1032:1 (PNG); a
# baseline JPEG needs at least a few bits per 8x8 block. A file smaller than its header's
# pixel count allows cannot hold those pixels: refused before anything is allocated.
_MAX_PIXELS_PER_BYTE = {"PNG": 1032 * 1.0, "JPEG": 64 * 8 / 2}
_MAX_JSON_DEPTH = 8  # {"columns": [...], "rows": [[...]]} needs 3


@dataclass(frozen=True)
class ImageLimits:
    max_bytes: int = 10 * 1024 * 1024
    max_side: int = 4096


@dataclass(frozen=True)
class TableLimits:
    max_cells: int = 2048
    max_cell_chars: int = 200
    max_json_bytes: int = 1024 * 1024


@dataclass(frozen=True)
class Table:
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]

    @property
    def cells(self) -> int:
        return len(self.columns) * len(self.rows)

    def as_text(self) -> str:
        """The table serialised as text (the text-only baseline)."""
        lines = [" | ".join(self.columns)]
        lines += [" | ".join(row) for row in self.rows]
        return "\n".join(lines)


def decode_image(data: bytes, limits: ImageLimits, field: str = "image") -> Image.Image:
    """Checked, fully decoded RGB image."""
    if not data:
        raise InvalidArgument(field, "empty")
    if len(data) > limits.max_bytes:
        raise InvalidArgument(field, f"{len(data)} bytes exceeds the limit of {limits.max_bytes}")
    expected = next((kind for magic, kind in _MAGIC.items() if data.startswith(magic)), None)
    if expected is None:
        raise InvalidArgument(field, "not a PNG or JPEG image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.format != expected:
                raise InvalidArgument(field, f"not a valid {expected} image")
            width, height = image.size  # from the header; nothing decoded yet
            if max(width, height) > limits.max_side or width * height > limits.max_side**2:
                raise InvalidArgument(
                    field,
                    f"{width}x{height} pixels exceeds the limit of "
                    f"{limits.max_side}x{limits.max_side}",
                )
            if width * height > len(data) * _MAX_PIXELS_PER_BYTE[expected]:
                raise InvalidArgument(
                    field,
                    f"{len(data)} bytes cannot hold the {width}x{height} pixels its header "
                    "claims (truncated or forged)",
                )
            image.load()
            return image.convert("RGB")
    except InvalidArgument:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise InvalidArgument(field, f"too many pixels ({error})") from None
    except Exception as error:  # any decoder failure means a corrupt file
        raise InvalidArgument(field, f"corrupt {expected} image ({type(error).__name__})") from None


def preprocess_image(image: Image.Image) -> np.ndarray:
    """RGB -> float32 [3, 224, 224], resized and normalised with ImageNet statistics."""
    resized = image.convert("RGB").resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BILINEAR)
    pixels = np.asarray(resized, dtype=np.float32) / 255.0
    return ((pixels - IMAGENET_MEAN) / IMAGENET_STD).transpose(2, 0, 1).copy()


def parse_table(text: str, limits: TableLimits, field: str = "table") -> Table:
    """Checked table from JSON `{"columns": [...], "rows": [[...], ...]}`."""
    if len(text.encode()) > limits.max_json_bytes:
        raise InvalidArgument(field, f"JSON larger than {limits.max_json_bytes} bytes")
    depth = _nesting_depth(text)
    if depth > _MAX_JSON_DEPTH:
        raise InvalidArgument(field, f"JSON nested {depth} levels deep; a table needs 3")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidArgument(field, f"malformed JSON ({error.msg} at {error.pos})") from None
    except (ValueError, RecursionError) as error:  # e.g. an integer of 5,000 digits
        raise InvalidArgument(field, f"unreadable JSON ({str(error)[:120]})") from None
    if not isinstance(data, dict) or set(data) != {"columns", "rows"}:
        raise InvalidArgument(field, 'expected an object with exactly "columns" and "rows"')
    columns, rows = data["columns"], data["rows"]
    if not isinstance(columns, list) or not columns:
        raise InvalidArgument(f"{field}.columns", "must be a non-empty list")
    if not isinstance(rows, list) or not rows:
        raise InvalidArgument(f"{field}.rows", "must be a non-empty list of rows")
    cells = len(columns) * len(rows)
    if cells > limits.max_cells:
        raise InvalidArgument(field, f"{cells} cells exceeds the limit of {limits.max_cells}")
    for index, row in enumerate(rows):
        if not isinstance(row, list):
            raise InvalidArgument(f"{field}.rows[{index}]", "must be a list")
        if len(row) != len(columns):
            raise InvalidArgument(
                f"{field}.rows[{index}]", f"has {len(row)} cells, the header has {len(columns)}"
            )
    return Table(
        columns=tuple(_cell(c, limits, f"{field}.columns") for c in columns),
        rows=tuple(
            tuple(_cell(c, limits, f"{field}.rows[{i}]") for c in row) for i, row in enumerate(rows)
        ),
    )


def _cell(value: object, limits: TableLimits, field: str) -> str:
    if isinstance(value, bool) or value is None:
        text = json.dumps(value)
    elif isinstance(value, int | float | str):
        text = str(value)
    else:
        raise InvalidArgument(field, "cells must be strings, numbers, booleans or null")
    if len(text) > limits.max_cell_chars:
        raise InvalidArgument(field, f"a cell is longer than {limits.max_cell_chars} characters")
    return text


def _nesting_depth(text: str) -> int:
    """The deepest [ / { nesting of JSON text (brackets inside strings ignored), found
    without parsing, so a `[[[[…` bomb never reaches the recursive parser."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest
