"""The int8 copy of a model folder: per-channel symmetric weights that reconstruct the
fp32 ones within half a step, only the transformer's linear layers quantized, vLLM's
compressed-tensors W8A8 config, and a copy derived once per source."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from pydantic import ValidationError
from safetensors.torch import load_file, save_file

from ponder.config import EngineConfig
from ponder.int8_checkpoint import derive_int8, int8_folder, quantize_channelwise


def test_channelwise_int8_reconstructs_within_half_a_step() -> None:
    generator = torch.Generator().manual_seed(0)
    weight = torch.randn(64, 96, generator=generator) * torch.linspace(0.01, 3.0, 64)[:, None]
    quantized, scale = quantize_channelwise(weight)
    assert quantized.dtype == torch.int8 and scale.shape == (64, 1)
    assert int(quantized.abs().max()) == 127  # each channel uses the whole range
    error = (quantized.float() * scale - weight).abs()
    assert bool((error <= scale / 2 + 1e-7).all())


def _model(folder: Path) -> None:
    folder.mkdir()
    tensors = {
        "model.embed_tokens.weight": torch.randn(10, 8),
        "model.layers.0.self_attn.q_proj.weight": torch.randn(8, 8),
        "model.layers.0.mlp.down_proj.weight": torch.randn(8, 16),
        "model.layers.0.input_layernorm.weight": torch.ones(8),
    }
    save_file(tensors, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (folder / "tokenizer.json").write_text("{}")


def test_the_copy_quantizes_the_linear_layers_only_and_is_derived_once(tmp_path: Path) -> None:
    source = tmp_path / "m"
    _model(source)
    target = derive_int8(source)
    assert target == int8_folder(source) == tmp_path / "m-w8a8"
    tensors = load_file(str(target / "model.safetensors"))
    assert tensors["model.layers.0.self_attn.q_proj.weight"].dtype == torch.int8
    assert tensors["model.layers.0.mlp.down_proj.weight_scale"].shape == (8, 1)
    assert tensors["model.embed_tokens.weight"].dtype == torch.float32
    assert "model.layers.0.input_layernorm.weight_scale" not in tensors
    config = json.loads((target / "config.json").read_text())["quantization_config"]
    group = config["config_groups"]["group_0"]
    assert config["quant_method"] == "compressed-tensors"
    assert group["weights"]["strategy"] == "channel"
    assert group["input_activations"] | {"dynamic": True} == group["input_activations"]
    assert (target / "tokenizer.json").is_file()
    stamp = (target / "model.safetensors").stat().st_mtime_ns
    assert derive_int8(source) == target
    assert (target / "model.safetensors").stat().st_mtime_ns == stamp  # up to date: kept


def test_int8_weights_point_the_engine_at_the_copy_and_keep_adapters() -> None:
    config = EngineConfig(model="/models/student", int8_weights=True, dtype="bfloat16")
    assert config.model_path() == Path("/models/student-w8a8")
    assert config.source_model_path() == Path("/models/student")
    # LoRA runs on the int8 copy (the CPU fix in ponder/engine/vllm_cpu_fixes.py)
    with_lora = EngineConfig(
        int8_weights=True, dtype="bfloat16", lora_adapters={"a": "/x"}, refresh_adapters=True
    )
    assert with_lora.adapter_dirs() == {"a": Path("/x")}
    with pytest.raises(ValidationError, match="16-bit activations"):
        EngineConfig(int8_weights=True)  # float32 by default


@pytest.mark.parametrize("int8_dot", [True, False])
def test_auto_serves_the_int8_copy_only_where_the_cpu_multiplies_int8(
    int8_dot: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ponder.cpu_features

    monkeypatch.setattr(ponder.cpu_features, "has_int8_dot", lambda: int8_dot)
    config = EngineConfig(model="/models/student", int8_weights="auto", dtype="float32")
    here = config.for_this_machine()
    if int8_dot:  # AMX / VNNI: the int8 copy, with the 16-bit activations its kernels take
        assert (here.int8_weights, here.dtype) == (True, "bfloat16")
        assert config.model_path() == here.model_path() == Path("/models/student-w8a8")
    else:  # AVX2 only: the model as stored
        assert (here.int8_weights, here.dtype) == (False, "float32")
        assert config.model_path() == here.model_path() == Path("/models/student")
    assert here.for_this_machine() == here  # decided once


def test_the_build_check_derives_the_int8_copy_the_engine_will_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a CPU that multiplies int8, 'auto' serves the `-w8a8` copy: the app's build-time
    check derives it first, so vLLM's argument checks see a folder, not a hub id (a
    student trained after setup has no copy yet)."""
    import ponder.cpu_features
    from deployments.app import check_engine_config

    monkeypatch.setattr(ponder.cpu_features, "has_int8_dot", lambda: True)
    source = tmp_path / "student"
    _model(source)
    config = EngineConfig(model=str(source), int8_weights="auto", dtype="float32")
    check_engine_config(config, "student")
    assert (int8_folder(source) / "model.safetensors").is_file()
