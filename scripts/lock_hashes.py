"""Add each locked distribution's SHA-256 to requirements/lock-cpu.txt, so that
`pip install --require-hashes` (scripts/setup.sh, the CPU image) refuses any file but the
one the lock was made with.

    .venv/bin/python scripts/lock_hashes.py            # rewrite the lock with hashes
    .venv/bin/python scripts/lock_hashes.py --check    # exit 1 if a line lacks its hash

The hashes come from pip's own resolution against the configured index (`pip install
--dry-run --report`, nothing installed): the files this machine's setup installs.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

LOCK = Path(__file__).resolve().parent.parent / "requirements" / "lock-cpu.txt"
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s\\;]+)")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(text: str) -> list[tuple[str, str]]:
    """(name, version) of every requirement line of a lock, in order."""
    return [(m.group(1), m.group(2)) for line in text.splitlines() if (m := PIN.match(line))]


def resolved_hashes(lock: Path) -> dict[str, str]:
    """Canonical name -> sha256 of the file pip picks for each pin."""
    plain = "\n".join(f"{n}=={v}" for n, v in pins(lock.read_text()))
    with tempfile.TemporaryDirectory() as folder:
        requirements = Path(folder) / "requirements.txt"
        requirements.write_text(plain + "\n")
        report = Path(folder) / "report.json"
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed",
             "--no-deps", "-q", "-r", str(requirements), "--report", str(report)],
            check=True,
        )  # fmt: skip
        items = json.loads(report.read_text())["install"]
    return {
        _canonical(item["metadata"]["name"]): item["download_info"]["archive_info"]["hashes"][
            "sha256"
        ]
        for item in items
    }


def unhandled(text: str) -> list[str]:
    """Lines that are neither a comment, a plain `name==version` pin nor a hash of one
    (markers, URLs, editable or index options): refused rather than dropped."""
    plain = re.compile(r"^[A-Za-z0-9_.\-]+==[^\s\\;@]+( \\)?$")
    return [
        line
        for line in text.splitlines()
        if line.strip()
        and not line.startswith("#")
        and not line.strip().startswith("--hash=sha256:")
        and not plain.match(line.strip())
    ]


def with_hashes(text: str, hashes: dict[str, str]) -> str:
    if bad := unhandled(text):
        raise ValueError(f"lines this script cannot hash (handle them by hand): {bad[:5]}")
    header = [line for line in text.splitlines() if line.startswith("#")]
    lines = [*header]
    for name, version in pins(text):
        lines.append(f"{name}=={version} \\")
        lines.append(f"    --hash=sha256:{hashes[_canonical(name)]}")
    return "\n".join(lines) + "\n"


def missing_hashes(text: str) -> list[str]:
    """Pins not followed by a --hash line."""
    lines = text.splitlines()
    missing = []
    for i, line in enumerate(lines):
        if PIN.match(line):
            following = lines[i + 1].strip() if i + 1 < len(lines) else ""
            if not (line.rstrip().endswith("\\") and following.startswith("--hash=sha256:")):
                missing.append(line.split()[0])
    return missing


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only check every pin has a hash")
    parser.add_argument("--lock", type=Path, default=LOCK, help=f"the lock (default {LOCK})")
    args = parser.parse_args()
    lock: Path = args.lock
    text = lock.read_text()
    if args.check:
        missing = missing_hashes(text) + unhandled(text)
        for name in missing:
            print(f"no hash: {name}", file=sys.stderr)
        return 1 if missing else 0
    lock.write_text(with_hashes(text, resolved_hashes(lock)))
    print(f"wrote {len(pins(text))} pins with hashes into {lock}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
