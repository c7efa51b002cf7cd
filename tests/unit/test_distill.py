"""Distillation: the loss, the student's layers and weights, the committed parts' hashes."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from ponder import student_build
from ponder.student_build import (
    StudentIntegrityError,
    StudentManifest,
    check_inputs,
    sha256_of,
    student_name,
)
from ponder.training.distill import distillation_loss, spaced_layers, student_from_teacher

VOCAB = 11


def _logits(seed: int, tokens: int = 7) -> torch.Tensor:
    return torch.randn(tokens, VOCAB, generator=torch.Generator().manual_seed(seed)) * 3


def test_alpha_one_is_cross_entropy() -> None:
    student, teacher = _logits(1), _logits(2)
    labels = torch.arange(7) % VOCAB
    loss = distillation_loss(student, teacher, labels, alpha=1.0, temperature=2.0)
    assert torch.allclose(loss, F.cross_entropy(student, labels))


def test_alpha_zero_is_scaled_kl_of_softened_distributions() -> None:
    student, teacher, t = _logits(1), _logits(2), 3.0
    labels = torch.zeros(7, dtype=torch.long)
    loss = distillation_loss(student, teacher, labels, alpha=0.0, temperature=t)
    p = F.softmax(teacher / t, dim=-1)
    q = F.softmax(student / t, dim=-1)
    by_hand = (p * (p.log() - q.log())).sum(-1).mean() * t**2
    assert torch.allclose(loss, by_hand, atol=1e-5)
    assert loss > 0


def test_kl_of_identical_distributions_is_zero() -> None:
    logits = _logits(5)
    labels = torch.zeros(7, dtype=torch.long)
    loss = distillation_loss(logits, logits.clone(), labels, alpha=0.0, temperature=2.0)
    assert abs(float(loss)) < 1e-6


def test_mixture_weights_both_terms() -> None:
    student, teacher = _logits(1), _logits(2)
    labels = torch.arange(7) % VOCAB
    ce = distillation_loss(student, teacher, labels, alpha=1.0, temperature=2.0)
    kl = distillation_loss(student, teacher, labels, alpha=0.0, temperature=2.0)
    mixed = distillation_loss(student, teacher, labels, alpha=0.3, temperature=2.0)
    assert torch.allclose(mixed, 0.3 * ce + 0.7 * kl, atol=1e-5)


def test_temperature_softens_and_scales() -> None:
    """Higher T flattens both distributions (the unscaled KL shrinks); the T^2 factor is
    what keeps the term's size comparable."""
    student, teacher = _logits(1), _logits(2)
    labels = torch.zeros(7, dtype=torch.long)
    kl_1 = distillation_loss(student, teacher, labels, alpha=0.0, temperature=1.0)
    kl_4 = distillation_loss(student, teacher, labels, alpha=0.0, temperature=4.0)
    assert kl_4 / 16 < kl_1  # the softened divergence itself is smaller
    assert kl_4 > kl_1 / 16  # but the T^2 scaling keeps it from vanishing


def test_gradient_flows_to_the_student_only() -> None:
    student = _logits(1).requires_grad_(True)
    teacher = _logits(2).requires_grad_(True)
    labels = torch.arange(7) % VOCAB
    distillation_loss(student, teacher, labels, alpha=0.5, temperature=2.0).backward()
    assert student.grad is not None and student.grad.abs().sum() > 0


@pytest.mark.parametrize(
    ("total", "keep", "expected"),
    [
        (30, 10, (0, 3, 6, 10, 13, 16, 19, 23, 26, 29)),
        (30, 30, tuple(range(30))),
        (30, 2, (0, 29)),
        (30, 1, (29,)),
    ],
)
def test_spaced_layers_keep_first_and_last(
    total: int, keep: int, expected: tuple[int, ...]
) -> None:
    assert spaced_layers(total, keep) == expected


def test_spaced_layers_rejects_impossible() -> None:
    with pytest.raises(ValueError):
        spaced_layers(30, 31)


def _tiny_teacher() -> torch.nn.Module:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=32,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=6,
        num_attention_heads=2,
        num_key_value_heads=1,
        tie_word_embeddings=True,
    )
    return LlamaForCausalLM(config).eval()


def test_student_copies_the_selected_layers() -> None:
    teacher = _tiny_teacher()
    student = student_from_teacher(teacher, (0, 2, 5))
    assert student.config.num_hidden_layers == 3
    for own, theirs in zip(range(3), (0, 2, 5), strict=True):
        a = student.model.layers[own].self_attn.q_proj.weight
        b = teacher.model.layers[theirs].self_attn.q_proj.weight
        assert torch.equal(a, b) and a.data_ptr() != b.data_ptr()  # a copy, not shared
    assert torch.equal(student.model.embed_tokens.weight, teacher.model.embed_tokens.weight)
    assert student.lm_head.weight.data_ptr() == student.model.embed_tokens.weight.data_ptr()
    student.model.layers[0].self_attn.q_proj.weight.data.add_(1.0)
    assert not torch.equal(
        student.model.layers[0].self_attn.q_proj.weight,
        teacher.model.layers[0].self_attn.q_proj.weight,
    )


def test_student_with_every_layer_equals_the_teacher() -> None:
    teacher = _tiny_teacher()
    student = student_from_teacher(teacher, tuple(range(6)))
    ids = torch.tensor([[1, 5, 7, 3]])
    with torch.no_grad():
        assert torch.allclose(teacher(ids).logits, student(ids).logits)


# -- committed parts and their hashes -----------------------------------------------------


@pytest.fixture
def committed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, StudentManifest]:
    """A student folder with a delta, a teacher adapter and a stand-in GGUF file."""
    package = tmp_path / "ponder"
    adapter = package / "adapters" / "math-1"
    adapter.mkdir(parents=True)
    (adapter / "adapter_model.safetensors").write_bytes(b"teacher weights")
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"gguf bytes")
    monkeypatch.setattr(student_build.env, "PACKAGE_DIR", package)
    monkeypatch.setattr("ponder.base_model_conversion.find_gguf_file", lambda: gguf)
    folder = tmp_path / "student"
    (folder / "delta").mkdir(parents=True)
    (folder / "delta" / "adapter_model.safetensors").write_bytes(b"delta weights")
    manifest = StudentManifest(
        name="",
        teacher_adapter="math-1",
        teacher_adapter_sha256=sha256_of(adapter / "adapter_model.safetensors"),
        base_model_sha256=sha256_of(gguf),
        layers=(0, 2, 5),
        delta_sha256=sha256_of(folder / "delta" / "adapter_model.safetensors"),
    )
    manifest = replace(manifest, name=student_name("student", manifest))
    manifest.write(folder)
    return folder, manifest


def test_manifest_round_trips_and_checks(committed: tuple[Path, StudentManifest]) -> None:
    folder, manifest = committed
    assert StudentManifest.read(folder) == manifest
    check_inputs(folder, manifest)  # all hashes match


@pytest.mark.parametrize("changed", ["delta", "teacher", "gguf"])
def test_a_changed_input_fails_the_check(
    committed: tuple[Path, StudentManifest], changed: str
) -> None:
    folder, manifest = committed
    root = folder.parent
    path = {
        "delta": folder / "delta" / "adapter_model.safetensors",
        "teacher": root / "ponder" / "adapters" / "math-1" / "adapter_model.safetensors",
        "gguf": root / "model.gguf",
    }[changed]
    path.write_bytes(path.read_bytes() + b"!")
    with pytest.raises(StudentIntegrityError, match="sha256"):
        check_inputs(folder, manifest)


def test_a_renamed_manifest_fails_the_check(committed: tuple[Path, StudentManifest]) -> None:
    folder, manifest = committed
    data = asdict(manifest) | {"layers": [0, 1, 5]}
    (folder / "student.json").write_text(json.dumps(data))
    with pytest.raises(StudentIntegrityError, match="name"):
        check_inputs(folder, StudentManifest.read(folder))


def test_the_name_follows_every_input(committed: tuple[Path, StudentManifest]) -> None:
    _, manifest = committed
    names = {
        student_name("student", manifest),
        student_name("student", replace(manifest, layers=(0, 1, 5))),
        student_name("student", replace(manifest, delta_sha256="0" * 64)),
        student_name("student", replace(manifest, teacher_adapter_sha256="1" * 64)),
    }
    assert len(names) == 4
