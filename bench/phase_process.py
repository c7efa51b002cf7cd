"""One benchmark start in its own process, so nothing of one Ray cluster survives into
the next: the script is run again with --phase and its other arguments, and the last
line it prints is the start's JSON result."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def run_in_own_process(
    script: str, config: Path, variant: str, extra: list[str], label: str
) -> Any:
    """`python script --config config --phase variant *extra`; its last printed line."""
    command = [sys.executable, script, "--config", str(config), "--phase", variant, *extra]
    print(f"[{label}] {variant} {' '.join(extra)} ...", file=sys.stderr, flush=True)
    out = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])
