"""The learning benchmark's held-out passes by kind of problem: dev originals and their
robustness variants, each pass paired with the first (reads bench/results/learning.json
and rebuilds the same held-out list, `ponder.learning.stream_split`, deterministic).

Run:  .venv/bin/python bench/learning_by_source.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ponder import env  # noqa: E402
from ponder.learning.stream_split import learning_problems  # noqa: E402


def main() -> int:
    held = learning_problems(
        env.data_dir() / "mawps_asdiv_train.jsonl", ROOT / "bench" / "data" / "robust-dev.jsonl"
    ).held_out
    report = json.loads((ROOT / "bench" / "results" / "learning.json").read_text())
    rows = report["loop"]["checkpoints"]
    first = rows[0]["right"]
    print("| outcomes | kind | held-out right | paired with the first pass |")
    print("|---|---|---|---|")
    for row in rows:
        for kind in sorted({p.source for p in held}):
            pairs = [
                (a, b)
                for p, a, b in zip(held, first, row["right"], strict=True)
                if p.source == kind
            ]
            right = sum(b for _, b in pairs)
            won = sum(b and not a for a, b in pairs)
            lost = sum(a and not b for a, b in pairs)
            print(f"| {row['outcomes']} | {kind} | {right}/{len(pairs)} | +{won} / −{lost} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
