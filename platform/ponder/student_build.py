"""The distilled student: its small committed parts and the full weights derived from them.

Git holds, under `ponder/students/<name>/`, only what distillation trained and how to
rebuild the rest: `student.json` (the teacher's adapter, the kept layers, sha256 of every
input) and `delta/` (the low-rank update, peft layout). Setup rebuilds the servable
model deterministically: base model (converted GGUF) + the teacher's domain adapter
merged -> the kept layers -> the delta merged -> a plain HF folder under
`.state/models/<name>` that vLLM loads. Every input is checked against its sha256 first,
so a changed adapter, delta or GGUF fails loudly instead of serving a different model.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ponder import env

log = logging.getLogger(__name__)

STUDENTS_DIR = env.PACKAGE_DIR / "students"
MANIFEST_FILE = "student.json"
DELTA_DIR = "delta"
DELTA_WEIGHTS = "adapter_model.safetensors"
MARKER_FILE = "ponder-model.json"


class StudentIntegrityError(RuntimeError):
    """A committed part or an input of the student does not match its recorded sha256."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class StudentManifest:
    """How to rebuild one student (student.json)."""

    name: str  # <prefix>-<first 8 hex of the manifest hash>
    teacher_adapter: str  # folder under ponder/adapters ("" = the base model taught)
    teacher_adapter_sha256: str  # of its adapter_model.safetensors ("" when none)
    base_model_sha256: str  # of the GGUF file the base model is converted from
    layers: tuple[int, ...]  # the teacher's layers the student keeps, in order
    delta_sha256: str  # of delta/adapter_model.safetensors

    @staticmethod
    def read(folder: Path) -> StudentManifest:
        data = json.loads((folder / MANIFEST_FILE).read_text())
        data["layers"] = tuple(data["layers"])
        return StudentManifest(**data)

    def write(self, folder: Path) -> None:
        (folder / MANIFEST_FILE).write_text(json.dumps(asdict(self), indent=2) + "\n")

    def content_hash(self) -> str:
        """Hash of everything the weights depend on (not the name itself)."""
        fields = asdict(self)
        fields.pop("name")
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


def student_name(prefix: str, manifest: StudentManifest) -> str:
    return f"{prefix}-{manifest.content_hash()[:8]}"


def student_dir(name: str) -> Path:
    """The committed parts of a student."""
    return STUDENTS_DIR / name


def student_model_dir(name: str) -> Path:
    """The full student model setup derives (PONDER_STATE_DIR/models/<name>)."""
    return env.state_dir() / "models" / name


def _teacher_adapter_dir(manifest: StudentManifest) -> Path | None:
    if not manifest.teacher_adapter:
        return None
    return env.PACKAGE_DIR / "adapters" / manifest.teacher_adapter


def check_inputs(folder: Path, manifest: StudentManifest) -> None:
    """Every input of the build against its recorded sha256."""
    from ponder.base_model_conversion import find_gguf_file

    checks = [(folder / DELTA_DIR / DELTA_WEIGHTS, manifest.delta_sha256)]
    teacher = _teacher_adapter_dir(manifest)
    if teacher is not None:
        checks.append((teacher / DELTA_WEIGHTS, manifest.teacher_adapter_sha256))
    checks.append((find_gguf_file(), manifest.base_model_sha256))
    for path, expected in checks:
        if not path.is_file():
            raise StudentIntegrityError(f"student {manifest.name}: {path} is missing")
        actual = sha256_of(path)
        if actual != expected:
            raise StudentIntegrityError(
                f"student {manifest.name}: sha256 of {path} is {actual[:12]}…, "
                f"student.json records {expected[:12]}…"
            )
    if manifest.name.rsplit("-", 1)[-1] != manifest.content_hash()[:8]:
        raise StudentIntegrityError(
            f"student {manifest.name}: the name does not match the manifest's hash "
            f"({manifest.content_hash()[:8]})"
        )


def is_built(name: str, manifest: StudentManifest) -> bool:
    marker = student_model_dir(name) / MARKER_FILE
    if not marker.is_file():
        return False
    return bool(json.loads(marker.read_text()).get("manifest_hash") == manifest.content_hash())


def build_student(folder: Path, *, force: bool = False) -> Path:
    """Check the inputs of the student committed in `folder`, then derive the servable
    model under .state/models/<name> (skipped when already built from the same manifest)."""
    manifest = StudentManifest.read(folder)
    name = manifest.name
    check_inputs(folder, manifest)
    out = student_model_dir(name)
    if is_built(name, manifest) and not force:
        log.info("student %s already built at %s", name, out)
        return out
    from peft import PeftModel
    from transformers import AutoTokenizer

    from ponder.base_model_conversion import convert_default_model
    from ponder.training.distill import merged_teacher, student_from_teacher

    started = time.monotonic()
    base_dir = convert_default_model(env.default_model_dir())
    teacher = merged_teacher(base_dir, _teacher_adapter_dir(manifest))
    student = student_from_teacher(teacher, manifest.layers)
    del teacher
    merged = PeftModel.from_pretrained(student, str(folder / DELTA_DIR)).merge_and_unload()
    staging = out.with_name(out.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    merged.save_pretrained(staging, safe_serialization=True)
    AutoTokenizer.from_pretrained(str(base_dir)).save_pretrained(staging)
    marker = {
        "source": f"{name} (distilled; ponder/students/{name})",
        "manifest_hash": manifest.content_hash(),
        "layers": list(manifest.layers),
        "parameters": merged.num_parameters(),
        "seconds": round(time.monotonic() - started, 1),
    }
    (staging / MARKER_FILE).write_text(json.dumps(marker, indent=2) + "\n")
    shutil.rmtree(out, ignore_errors=True)
    staging.rename(out)
    log.info("student %s built at %s in %.1f s", name, out, time.monotonic() - started)
    return out


def committed_students() -> list[str]:
    """Names of the students shipped in the package."""
    if not STUDENTS_DIR.is_dir():
        return []
    return sorted(p.name for p in STUDENTS_DIR.iterdir() if (p / MANIFEST_FILE).is_file())


def package_student(
    delta: Path, prefix: str, teacher_adapter: str, layers: tuple[int, ...], out_root: Path
) -> tuple[str, Path]:
    """Write a trained delta and its manifest as out_root/<prefix>-<hash>/."""
    from ponder.base_model_conversion import find_gguf_file

    teacher_sha = ""
    if teacher_adapter:
        teacher_sha = sha256_of(env.PACKAGE_DIR / "adapters" / teacher_adapter / DELTA_WEIGHTS)
    manifest = StudentManifest(
        name="",
        teacher_adapter=teacher_adapter,
        teacher_adapter_sha256=teacher_sha,
        base_model_sha256=sha256_of(find_gguf_file()),
        layers=layers,
        delta_sha256=sha256_of(delta / DELTA_WEIGHTS),
    )
    name = student_name(prefix, manifest)
    manifest = StudentManifest(**{**asdict(manifest), "name": name})
    folder = out_root / name
    (folder / DELTA_DIR).mkdir(parents=True, exist_ok=True)
    for file in ("adapter_config.json", DELTA_WEIGHTS):
        shutil.copy2(delta / file, folder / DELTA_DIR / file)
    manifest.write(folder)
    return name, folder
