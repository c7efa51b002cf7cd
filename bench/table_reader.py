"""The table reader's question reading, one change at a time: the question read through
the decoder's token embeddings (`--question-layer 0`) against through its hidden states
after 16 of its 30 layers (the default), and the latter with each step's gradient norm
clipped at 1 (`--clip-norm 1`), each trained by `ponder train table-reader` on
the same generated tables with the same seed, for several seeds (each seed draws its own
training, dev and shifted sets and initialises the reader its own way). Reported per seed
and variant: right answers among the five question types the reader answers, on the dev
split (seen wordings and domains) and the shifted test (wordings, row names and a domain
never trained on), and how often a question of none of those types was left to the fused
decoder.

Run:  .venv/bin/python bench/table_reader.py [--seeds 0 1 2] [--work DIR]
A variant and seed whose folder in --work already holds a reader trained with the same
settings (question layer, training set, epochs, clipping, held-out sizes) is read, not
trained again. Written to bench/results/table_reader.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# name -> (question layer, gradient norm clip; 0: none)
VARIANTS = {
    "token embeddings": (0, 0.0),
    "decoder states after 16 layers": (16, 0.0),
    "decoder states after 16 layers, gradient clipped at 1": (16, 1.0),
}


def _arguments(seed: int, layer: int, out: Path, quick: bool, clip: float) -> list[str]:
    extra = ["--train", "1200", "--epochs", "1", "--dev", "60", "--test", "60"] if quick else []
    extra += ["--clip-norm", str(clip)]
    return [
        "train", "table-reader", "--no-baselines", "--seed", str(seed),
        "--question-layer", str(layer), "--out", str(out), *extra,
    ]  # fmt: skip


def _settings(meta: dict[str, Any]) -> tuple[Any, ...]:
    return (meta.get("question_layer", 0), meta["trained_on"], meta["held_out"])


def _trained(seed: int, layer: int, work: Path, quick: bool, clip: float) -> dict[str, Any]:
    out = work / (f"layer{layer}-seed{seed}" + (f"-clip{clip}" if clip > 0 else ""))
    arguments = _arguments(seed, layer, out, quick, clip)
    meta_file = out / "table_reader.json"
    wanted = (
        layer,
        f"{1200 if quick else 12000} generated table questions (split train, seed {seed}), "
        f"{1 if quick else 4} epochs of 64, learning rate 0.002"
        + (f", gradient norm clipped at {clip}" if clip > 0 else ""),
        {"dev": 60 if quick else 600, "test_shifted": 60 if quick else 600, "balanced": True},
    )
    if meta_file.is_file():
        meta: dict[str, Any] = json.loads(meta_file.read_text())
        if _settings(meta) == wanted:
            return meta
    command = [sys.executable, "-m", "ponder.cli", *arguments]
    print(f"[table_reader] {' '.join(command[2:])}", file=sys.stderr, flush=True)
    subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    result: dict[str, Any] = json.loads(meta_file.read_text())
    return result


def _summary(metrics: dict[str, Any]) -> dict[str, int]:
    answers = metrics["answers"]
    answered = [row for name, row in answers.items() if name != "other"]
    other = answers.get("other", {"n": 0, "read": 0})
    return {
        "n": sum(row["n"] for row in answered),
        "right": sum(row["read"] for row in answered),
        "other_n": other["n"],
        "other_left": other["read"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--work", default=str(ROOT / ".state" / "bench-table-reader"))
    parser.add_argument("--quick", action="store_true", help="small sets: a smoke run")
    args = parser.parse_args()
    work = Path(args.work)
    runs = []
    for seed in args.seeds:
        # alternate which variant trains first (no timing is reported; habit)
        order = list(VARIANTS.items()) if seed % 2 == 0 else list(VARIANTS.items())[::-1]
        for name, (layer, clip) in order:
            meta = _trained(seed, layer, work, args.quick, clip)
            runs.append(
                {
                    "seed": seed,
                    "variant": name,
                    "question_layer": layer,
                    "clip_norm": clip,
                    "version": meta["version"],
                    "seconds": meta["seconds"],
                    **{split: _summary(m) for split, m in meta["metrics"].items()},
                }
            )
    report = {"runs": runs, "quick": args.quick}
    target = ROOT / "bench" / "results" / "table_reader.json"
    target.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
