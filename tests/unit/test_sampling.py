import math

import pytest

from ponder.errors import InvalidArgument
from ponder.sampling import PRESET_TEMPERATURE, Preset, resolve_sampling


def test_presets_map_to_documented_temperatures() -> None:
    assert resolve_sampling(preset=Preset.REPORT).temperature == pytest.approx(0.7)
    assert resolve_sampling(preset=Preset.CREATIVE).temperature == pytest.approx(1.2)
    assert resolve_sampling().temperature == 0.0
    assert set(PRESET_TEMPERATURE) == set(Preset)


def test_explicit_temperature_overrides_preset() -> None:
    assert resolve_sampling(preset=Preset.CREATIVE, temperature=0.0).temperature == 0.0
    assert resolve_sampling(preset=Preset.REPORT, temperature=1.5).temperature == 1.5


def test_values_pass_through() -> None:
    options = resolve_sampling(top_p=0.9, max_tokens=12, seed=7, stop=["\n"], logprobs=3)
    assert (options.top_p, options.max_tokens, options.seed) == (0.9, 12, 7)
    assert options.stop == ("\n",)
    assert options.logprobs == 3


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"temperature": -0.1}, "sampling.temperature"),
        ({"temperature": 2.01}, "sampling.temperature"),
        ({"temperature": math.nan}, "sampling.temperature"),
        ({"top_p": 0.0}, "sampling.top_p"),
        ({"top_p": 1.01}, "sampling.top_p"),
        ({"max_tokens": 0}, "sampling.max_tokens"),
        ({"stop": ["x"] * 17}, "sampling.stop"),
        ({"stop": [""]}, "sampling.stop"),
        ({"logprobs": 21}, "sampling.logprobs"),
        ({"min_tokens": -1}, "sampling.min_tokens"),
        ({"min_tokens": 13, "max_tokens": 12}, "sampling.min_tokens"),
    ],
)
def test_out_of_range_values_name_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        resolve_sampling(**kwargs)
    assert caught.value.message.startswith(field + ":")


def test_limits_are_inclusive() -> None:
    resolve_sampling(temperature=2.0, top_p=1.0, stop=["x"] * 16, logprobs=20)
    assert resolve_sampling(min_tokens=12, max_tokens=12).min_tokens == 12


def test_min_tokens_defaults_to_zero() -> None:
    assert resolve_sampling().min_tokens == 0
    assert resolve_sampling(min_tokens=None).min_tokens == 0
