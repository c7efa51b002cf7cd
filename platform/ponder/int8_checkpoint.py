"""8-bit decoders: an int8 copy of a model folder that vLLM loads as compressed-tensors
W8A8 (int8 weights, one scale per output channel; activations quantized per token at run
time), which its CPU build runs with oneDNN / AMX int8 kernels.

Every linear layer of the transformer blocks is quantized symmetrically per output
channel: scale = max |w| / 127 over the channel, w_q = round(w / scale). The embedding
table (shared with the output head when tied) and the norms stay as they were. The copy
is derived offline from the fp32 folder, deterministically, into `<model>-w8a8` beside it
(`EngineConfig.int8_weights` points the engine there and derives it on first use;
`ponder setup-model` derives the committed students' copies);
`ponder-model.json` records the source and what was done.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

SUFFIX = "-w8a8"
LINEAR_NAMES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
META_FILE = "ponder-model.json"

QUANTIZATION_CONFIG = {
    "quant_method": "compressed-tensors",
    "format": "int-quantized",
    "quantization_status": "compressed",
    "ignore": ["lm_head"],
    "config_groups": {
        "group_0": {
            "targets": ["Linear"],
            "weights": {
                "num_bits": 8,
                "type": "int",
                "symmetric": True,
                "strategy": "channel",
                "dynamic": False,
            },
            "input_activations": {
                "num_bits": 8,
                "type": "int",
                "symmetric": True,
                "strategy": "token",
                "dynamic": True,
            },
            "output_activations": None,
        }
    },
    "kv_cache_scheme": None,
}


def int8_folder(source: Path) -> Path:
    """Where the int8 copy of `source` lives."""
    return source.with_name(source.name + SUFFIX)


def quantize_channelwise(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """[out, in] float -> (int8 [out, in], float32 scale [out, 1]) with w ≈ w_q * scale."""
    w = weight.float()
    scale = w.abs().amax(dim=1, keepdim=True).clamp(min=1e-12) / 127.0
    quantized = torch.clamp(torch.round(w / scale), -127, 127).to(torch.int8)
    return quantized.contiguous(), scale.contiguous()


def _is_quantized(name: str) -> bool:
    return name.endswith(".weight") and name.split(".")[-2] in LINEAR_NAMES


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()[:16]


def derive_int8(source: Path, target: Path | None = None) -> Path:
    """Write the int8 copy of `source` (idempotent: an up-to-date copy is kept)."""
    target = target or int8_folder(source)
    weights = sorted(source.glob("*.safetensors"))
    if not weights:
        raise FileNotFoundError(f"no safetensors weights in {source}")
    digests = {p.name: _digest(p) for p in weights}
    meta_path = target / META_FILE
    if meta_path.is_file() and json.loads(meta_path.read_text()).get("source_digests") == digests:
        return target
    staging = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    try:
        for item in source.iterdir():
            if item.suffix != ".safetensors" and item.is_file() and item.name != META_FILE:
                shutil.copy2(item, staging / item.name)
        quantized_layers = 0
        for path in weights:
            tensors = load_file(str(path))
            out: dict[str, torch.Tensor] = {}
            for name, tensor in tensors.items():
                if _is_quantized(name):
                    out[name], out[name + "_scale"] = quantize_channelwise(tensor)
                    quantized_layers += 1
                else:
                    out[name] = tensor.contiguous()
            save_file(out, str(staging / path.name), metadata={"format": "pt"})
        config = json.loads((source / "config.json").read_text())
        config["quantization_config"] = QUANTIZATION_CONFIG
        (staging / "config.json").write_text(json.dumps(config, indent=2) + "\n")
        meta = {
            "derived_from": str(source),
            "source_digests": digests,
            "quantization": "int8 W8A8: weights per output channel (symmetric), "
            "activations per token at run time",
            "quantized_linear_layers": quantized_layers,
        }
        (staging / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)  # whole, or not at all (replicas may race here)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target
