"""The CPU lock pins every distribution to its file's hash (pip's hash-checking mode)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("lock_hashes", ROOT / "scripts" / "lock_hashes.py")
assert _spec is not None and _spec.loader is not None
lock_hashes = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lock_hashes)


def test_every_locked_distribution_has_its_hash() -> None:
    text = (ROOT / "requirements" / "lock-cpu.txt").read_text()
    assert len(lock_hashes.pins(text)) > 200
    assert lock_hashes.missing_hashes(text) == [] and lock_hashes.unhandled(text) == []
    assert "--require-hashes" in (ROOT / "scripts" / "setup.sh").read_text()


def test_a_pin_without_its_hash_is_found() -> None:
    text = "a==1 \\\n    --hash=sha256:" + "0" * 64 + "\nb==2\n"
    assert lock_hashes.missing_hashes(text) == ["b==2"]
    assert lock_hashes.with_hashes("# x\nb==2\n", {"b": "f" * 64}) == (
        "# x\nb==2 \\\n    --hash=sha256:" + "f" * 64 + "\n"
    )


def test_lines_it_cannot_hash_are_refused_not_dropped() -> None:
    import pytest

    for line in ("torch==2.1; sys_platform == 'linux'", "pkg @ file:///w/pkg.whl", "-e ."):
        assert lock_hashes.unhandled(f"a==1\n{line}\n") == [line]
        with pytest.raises(ValueError, match="cannot hash"):
            lock_hashes.with_hashes(f"a==1\n{line}\n", {"a": "0" * 64})
