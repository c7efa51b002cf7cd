"""Serve autoscaling of the decoder, locally: runs tests/integration/test_autoscaling.py
(a Decoder with autoscaling 1 to 2 replicas on the test cluster, 8 callers until the second
replica is RUNNING, then idle until it goes) and keeps its timeline.

Run:  .venv/bin/python bench/autoscaling.py
Written to bench/results/autoscaling.json.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "autoscaling.json"


def main() -> int:
    OUT.unlink(missing_ok=True)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/integration/test_autoscaling.py", "-q", "-s",
         "-p", "no:cacheprovider"],
        cwd=ROOT,
        env={**os.environ, "PONDER_AUTOSCALING_RESULT": str(OUT)},
        check=False,
    )  # fmt: skip
    if done.returncode or not OUT.is_file():
        print("[bench] the autoscaling test failed; no result", file=sys.stderr)
        return done.returncode or 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
