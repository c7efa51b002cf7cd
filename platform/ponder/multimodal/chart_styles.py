"""How a rendered chart looks: colours, font, gridlines, where labels go, noise.

Styles come in two families drawn from disjoint choices, so a test set in the *shifted*
family shows the encoders palettes, fonts, backgrounds and label placements they never saw
in training (the issue's style-shifted test). Fonts are the TrueType files matplotlib
ships in the pinned venv, so rendering is the same on every machine.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from PIL import ImageFont


class StyleFamily(StrEnum):
    """Which pool of choices a style is drawn from."""

    SEEN = "seen"  # training and dev sets
    SHIFTED = "shifted"  # the style-shifted test set: no choice in common with SEEN


RGB = tuple[int, int, int]


@dataclass(frozen=True)
class ChartStyle:
    """Everything about a chart's look that is not its data."""

    family: StyleFamily
    background: RGB
    ink: RGB  # axes, ticks and text
    marks: tuple[RGB, ...]  # bar fills (cycled) or the line's colour (first)
    font_file: str
    font_size: int
    gridlines: bool
    value_labels: bool  # each bar's / point's value written beside it
    label_below: bool  # category labels under the axis (else rotated into the bar base)
    bar_width: float  # share of each slot the bar fills
    line_width: int
    markers: bool
    noise: float  # std of per-pixel Gaussian noise, in levels of 255

    def font(self) -> ImageFont.FreeTypeFont:
        return _font(self.font_file, self.font_size)


def _fonts_folder() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


@lru_cache(maxsize=64)
def _font(name: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(_fonts_folder() / name), size)


_PALETTES: dict[StyleFamily, tuple[tuple[RGB, ...], ...]] = {
    StyleFamily.SEEN: (
        ((70, 130, 180),),  # steel blue
        ((220, 120, 40), (60, 140, 80)),
        ((120, 80, 160), (200, 60, 60), (60, 160, 170)),
        ((90, 90, 90),),
    ),
    StyleFamily.SHIFTED: (
        ((240, 200, 40),),  # yellow
        ((250, 130, 190), (130, 220, 120)),
        ((30, 60, 120), (180, 110, 40), (110, 170, 60), (150, 40, 110)),
    ),
}
_BACKGROUNDS: dict[StyleFamily, tuple[tuple[RGB, RGB], ...]] = {  # (background, ink)
    StyleFamily.SEEN: (((255, 255, 255), (0, 0, 0)), ((248, 246, 240), (40, 40, 40))),
    StyleFamily.SHIFTED: (((30, 30, 40), (235, 235, 235)), ((225, 235, 250), (20, 30, 90))),
}
_FONTS: dict[StyleFamily, tuple[str, ...]] = {
    StyleFamily.SEEN: (
        "DejaVuSans.ttf",
        "DejaVuSerif.ttf",
        "DejaVuSans-Bold.ttf",
        "DejaVuSans-Oblique.ttf",
        "DejaVuSerif-Italic.ttf",
        "DejaVuSerif-Bold.ttf",
        "DejaVuSans-BoldOblique.ttf",
    ),
    StyleFamily.SHIFTED: ("DejaVuSansMono.ttf", "STIXGeneral.ttf", "cmss10.ttf"),
}
_FONT_SIZES: dict[StyleFamily, tuple[int, ...]] = {
    StyleFamily.SEEN: (8, 10, 11, 12, 14),
    StyleFamily.SHIFTED: (9, 13),
}
_BAR_WIDTHS: dict[StyleFamily, tuple[float, ...]] = {
    StyleFamily.SEEN: (0.55, 0.7),
    StyleFamily.SHIFTED: (0.45, 0.85),
}
_LINE_WIDTHS: dict[StyleFamily, tuple[int, ...]] = {
    StyleFamily.SEEN: (2, 3),
    StyleFamily.SHIFTED: (1, 4),
}
_NOISE: dict[StyleFamily, tuple[float, ...]] = {
    StyleFamily.SEEN: (0.0, 4.0),
    StyleFamily.SHIFTED: (0.0, 8.0),
}


def draw_style(rng: random.Random, family: StyleFamily) -> ChartStyle:
    """One style of the family, drawn with `rng`."""
    background, ink = rng.choice(_BACKGROUNDS[family])
    seen = family is StyleFamily.SEEN
    return ChartStyle(
        family=family,
        background=background,
        ink=ink,
        marks=rng.choice(_PALETTES[family]),
        font_file=rng.choice(_FONTS[family]),
        font_size=rng.choice(_FONT_SIZES[family]),
        gridlines=rng.random() < (0.5 if seen else 0.8),
        value_labels=rng.random() < 0.5,
        # category labels under the axis or along the top of the plot (the seen family
        # labels below three times in four, the shifted one half the time)
        label_below=rng.random() < (0.75 if seen else 0.5),
        bar_width=rng.choice(_BAR_WIDTHS[family]),
        line_width=rng.choice(_LINE_WIDTHS[family]),
        markers=rng.random() < (0.5 if seen else 0.9),
        noise=rng.choice(_NOISE[family]),
    )
