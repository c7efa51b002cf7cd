from pathlib import Path

from ponder.api.protogen import STUB_ROOT, generate


def test_checked_in_stubs_equal_freshly_generated(tmp_path: Path) -> None:
    written = generate(tmp_path)
    assert written, "no stubs generated"
    for relative in written:
        checked_in = STUB_ROOT / relative
        assert checked_in.is_file(), f"missing stub {relative}; run python -m ponder.api.protogen"
        assert checked_in.read_bytes() == (tmp_path / relative).read_bytes(), (
            f"{relative} is stale; run python -m ponder.api.protogen"
        )


def test_every_rpc_message_and_field_is_commented() -> None:
    proto = (Path(__file__).parents[2] / "protos/ponder/v1/ponder.proto").read_text().splitlines()
    for index, line in enumerate(proto):
        stripped = line.strip()
        declares = stripped.startswith(("rpc ", "message ", "enum ", "service ")) or (
            stripped.endswith(";") and "=" in stripped and not stripped.startswith("option")
        )
        if declares and not stripped.startswith("syntax"):
            previous = proto[index - 1].strip()
            assert previous.startswith("//"), f"line {index + 1} has no comment: {stripped}"
