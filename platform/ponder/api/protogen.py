"""Generate the Python stubs of protos/ into platform/ (run: python -m ponder.api.protogen).

The checked-in stubs must equal what this writes; a unit test regenerates and compares.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ponder.env import REPO_ROOT

PROTO_ROOT = REPO_ROOT / "protos"
STUB_ROOT = REPO_ROOT / "platform"


def proto_files() -> list[Path]:
    """Every .proto under protos/, relative to it."""
    return sorted(path.relative_to(PROTO_ROOT) for path in PROTO_ROOT.rglob("*.proto"))


def generate(out_dir: Path) -> list[Path]:
    """Write *_pb2.py, *_pb2.pyi and *_pb2_grpc.py for every proto into out_dir."""
    from grpc_tools import protoc

    out_dir.mkdir(parents=True, exist_ok=True)
    files = proto_files()
    args = [
        "grpc_tools.protoc",
        f"--proto_path={PROTO_ROOT}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *(str(f) for f in files),
    ]
    if protoc.main(args) != 0:
        raise RuntimeError("protoc failed: " + " ".join(args))
    return sorted(p.relative_to(out_dir) for p in out_dir.rglob("*_pb2*.py*"))


def main() -> int:
    written = generate(STUB_ROOT)
    for path in written:
        print(f"wrote platform/{path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
