"""The decoder-side chart fusion (issue 28): the memory the decoder attends over is what
the packaged chart reader reads, one vector for the chart and one per category; the
fusion starts as the plain text prompt; weights round-trip through their files, a stage-2
fusion with its decoder LoRA, which the app refuses to run without; replies are graded by
the first answer they name; the baselines run on the plain decoder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from deployments.app import check_chart_fusion_adapter, check_chart_fusion_reader
from ponder.config import EncoderConfig, PonderConfig
from ponder.env import default_model_dir
from ponder.multimodal.chart_fusion import (
    ADAPTER_DIR,
    CHART_INPUT,
    OWN_READER_DIR,
    SLOT_FEATURES,
    SLOT_INPUT,
    ChartFusion,
    keep_own_reader,
    keep_replaced_reader,
    load_fusion,
    memory_inputs,
    reader_for_fusion,
    save_fusion,
)
from ponder.multimodal.chart_fusion_training import (
    DecoderText,
    chart_inputs,
    reading_text,
    reply_answer,
    train_fusion,
)
from ponder.multimodal.chart_reader import (
    LABELS,
    VALUE_STEP,
    load_reader,
    normalise,
    raw_pixels,
    read_charts,
)
from ponder.multimodal.chart_tasks import make_tasks

WIDTH = 576


def test_the_memory_is_what_the_reader_reads_one_vector_per_category() -> None:
    reader, _ = load_reader()
    tasks = make_tasks(8, "dev", seed=3)
    inputs = memory_inputs(reader, normalise(raw_pixels(tasks)))
    readings = read_charts(reader, tasks)
    for task, chart, reading in zip(tasks, inputs, readings, strict=True):
        assert chart.chart.shape == (CHART_INPUT,)
        assert chart.slots.shape == (len(reading.values), SLOT_INPUT)
        assert len(reading.values) == len(task.values)  # the reader counts these right
        label_probs = chart.slots[:, SLOT_FEATURES : SLOT_FEATURES + len(LABELS)]
        value_probs = chart.slots[:, SLOT_FEATURES + len(LABELS) :]
        assert torch.allclose(label_probs.sum(-1), torch.ones(len(task.values)))
        values = [int(v) * VALUE_STEP for v in value_probs.argmax(-1)]
        assert tuple(values) == reading.values


def test_an_untrained_fusion_is_the_plain_prompt_after_the_chart_vectors() -> None:
    reader, _ = load_reader()
    chart = memory_inputs(reader, normalise(raw_pixels(make_tasks(1, "dev", seed=4))))[0]
    fusion = ChartFusion(WIDTH)
    text = torch.randn(12, WIDTH)
    prompt = fusion.prompt(text, chart)
    rows = 1 + chart.slots.shape[0]
    assert prompt.shape == (rows + 12, WIDTH)
    assert torch.equal(prompt[rows:], text)  # gate 0: the question is untouched
    assert torch.equal(prompt[:rows], fusion.memory(chart))
    # once the gate opens, the question's embeddings carry the chart
    with torch.no_grad():
        fusion.fusion.gate.fill_(1.0)
    assert not torch.allclose(fusion.prompt(text, chart)[rows:], text)


def test_the_positions_an_answer_follows_ask_about_the_whole_question() -> None:
    """The prompt ends with the same tokens whatever the question; with question queries
    what those positions take from the chart depends on the question, without them not."""
    reader, _ = load_reader()
    chart = memory_inputs(reader, normalise(raw_pixels(make_tasks(1, "dev", seed=4))))[0]
    ending = torch.randn(3, WIDTH)
    asked = [torch.cat([torch.randn(9, WIDTH), ending]) for _ in range(2)]
    for question_queries in (True, False):
        fusion = ChartFusion(WIDTH, question_queries=question_queries)
        with torch.no_grad():
            fusion.fusion.gate.fill_(1.0)
        ends = [fusion.prompt(text, chart)[-3:] for text in asked]
        assert torch.allclose(ends[0], ends[1]) is not question_queries


def test_weights_round_trip_with_a_content_version(tmp_path: Path) -> None:
    fusion = ChartFusion(WIDTH, seed=1)
    with torch.no_grad():
        fusion.fusion.gate.fill_(0.5)
    version = save_fusion(fusion, tmp_path, {"reader": "reader-x", "metrics": {}})
    assert version == save_fusion(fusion, tmp_path / "again", {"reader": "reader-x"})
    loaded, meta = load_fusion(WIDTH, tmp_path)
    assert meta["version"] == version and meta["reader"] == "reader-x"
    for name, value in fusion.state_dict().items():
        assert torch.allclose(loaded.state_dict()[name], value, atol=1e-3), name
    assert version != save_fusion(ChartFusion(WIDTH, seed=2), tmp_path / "other", {})


def test_replies_are_graded_by_the_first_answer_they_name() -> None:
    tasks = {t.question_type: t for t in make_tasks(12, "dev", seed=5)}
    largest = tasks["largest"]
    first, second = largest.labels[0], largest.labels[1]
    assert reply_answer(largest, f"The {first} bar, then {second}.") == first
    assert reply_answer(largest, "I cannot see the chart.") == ""
    value = tasks["value"]
    assert reply_answer(value, "The bar is at 1,045 units, not 20") == "1045"
    assert reply_answer(value, "none") == ""
    trend = tasks["trend"]
    assert reply_answer(trend, "It is falling, not rising") == "falling"
    months = next(t for t in make_tasks(200, "dev", seed=6) if "Jan" in t.options)
    assert reply_answer(months, "The month is January.") == "Jan"


def test_the_reading_as_text_baseline_states_every_label_and_value() -> None:
    reader, _ = load_reader()
    task = make_tasks(1, "dev", seed=7)[0]
    reading = read_charts(reader, [task])[0]
    text = reading_text(reading)
    assert text.startswith(f"A {reading.kind} chart: ")
    for label, value in zip(reading.labels, reading.values, strict=True):
        assert f"{label} {value}" in text


def test_a_chart_fusion_folder_without_weights_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="chart_fusion_dir"):
        EncoderConfig(enabled=True, chart_fusion_dir=str(tmp_path))
    assert EncoderConfig(enabled=True, chart_fusion=False, chart_fusion_dir=str(tmp_path))


def _adapter_writer(weight: float) -> Callable[[Path], None]:
    def write(folder: Path) -> None:
        folder.mkdir(parents=True)
        save_file({"lora_A": torch.full((2, 2), weight)}, str(folder / "adapter_model.safetensors"))
        (folder / "adapter_config.json").write_text('{"r": 8}')

    return write


def test_a_stage_two_fusion_names_its_lora_and_its_version_covers_the_lora(
    tmp_path: Path,
) -> None:
    fusion = ChartFusion(WIDTH, seed=1)
    plain = save_fusion(fusion, tmp_path / "stage1", {})
    assert load_fusion(WIDTH, tmp_path / "stage1")[1]["adapter"] is None
    version = save_fusion(fusion, tmp_path, {}, _adapter_writer(0.5))
    meta = load_fusion(WIDTH, tmp_path)[1]
    assert meta["adapter"] == meta["version"] == version != plain
    assert (tmp_path / ADAPTER_DIR / "adapter_config.json").is_file()
    assert version != save_fusion(fusion, tmp_path / "other", {}, _adapter_writer(0.25))
    # written again without a LoRA: the old one goes, so it is never served beside it
    assert save_fusion(fusion, tmp_path, {}) == plain
    assert not (tmp_path / ADAPTER_DIR).exists()
    assert load_fusion(WIDTH, tmp_path)[1]["adapter"] is None


def test_the_decoder_serves_a_stage_two_fusion_with_its_lora_or_the_app_is_refused(
    tmp_path: Path,
) -> None:
    save_fusion(ChartFusion(WIDTH, seed=1), tmp_path, {}, _adapter_writer(0.5))
    version = load_fusion(WIDTH, tmp_path)[1]["version"]
    encoder = {"enabled": True, "chart_fusion_dir": str(tmp_path)}

    def config(adapters: dict[str, str]) -> PonderConfig:
        engine = {"enable_prompt_embeds": True, "lora_adapters": adapters}
        return PonderConfig.model_validate({"encoder": encoder, "decoder": {"engine": engine}})

    with pytest.raises(ValueError, match=f"lora_adapters.{version}"):
        check_chart_fusion_adapter(config({}))
    with pytest.raises(ValueError, match="trained with a LoRA"):
        check_chart_fusion_adapter(config({version: str(tmp_path / "elsewhere")}))
    check_chart_fusion_adapter(config({version: str(tmp_path / ADAPTER_DIR)}))


def _reader_folder(folder: Path, version: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "reader.json").write_text(f'{{"version": "{version}", "trunk": "resnet-light"}}')
    return folder


def test_a_fusion_reads_with_the_reader_it_was_trained_over_or_the_app_is_refused(
    tmp_path: Path,
) -> None:
    """A reader retrained for reading must not feed the fusion features it never saw: the
    fusion reads with the pool's reader when it was trained over it, else with the copy
    of its own reader in its folder; with neither, the app does not start."""
    fusion_dir = tmp_path / "fusion"
    save_fusion(ChartFusion(WIDTH, seed=1), fusion_dir, {"reader": "reader-old"})
    meta = load_fusion(WIDTH, fusion_dir)[1]
    assert reader_for_fusion(fusion_dir, meta, "reader-old") is None
    with pytest.raises(ValueError, match="trained over chart reader reader-old"):
        reader_for_fusion(fusion_dir, meta, "reader-new")
    _reader_folder(fusion_dir / OWN_READER_DIR, "reader-other")
    with pytest.raises(ValueError, match="does not hold reader-old"):
        reader_for_fusion(fusion_dir, meta, "reader-new")

    pool_reader = _reader_folder(tmp_path / "pool-reader", "reader-new")
    encoder = {"enabled": True, "chart_fusion_dir": str(fusion_dir)}
    app = PonderConfig.model_validate(
        {
            "encoder": encoder | {"chart_reader_dir": str(pool_reader)},
            "decoder": {"engine": {"enable_prompt_embeds": True}},
        }
    )
    with pytest.raises(ValueError, match=r"encoder\.chart_fusion: chart fusion"):
        check_chart_fusion_reader(app)
    (fusion_dir / OWN_READER_DIR / "reader.json").unlink()
    (fusion_dir / OWN_READER_DIR).rmdir()
    _reader_folder(fusion_dir / OWN_READER_DIR, "reader-old")
    assert reader_for_fusion(fusion_dir, meta, "reader-new") == fusion_dir / OWN_READER_DIR
    check_chart_fusion_reader(app)


def test_a_fusion_trained_over_another_reader_keeps_a_copy_of_it(tmp_path: Path) -> None:
    """The fusion job keeps the reader it trained over beside the fusion, unless it is the
    packaged one; what it kept is what the fusion then reads with."""
    packaged = _reader_folder(tmp_path / "packaged", "reader-packaged")
    other = _reader_folder(tmp_path / "other", "reader-other")
    (other / "reader.safetensors").write_bytes(b"weights")
    fusion_dir = tmp_path / "fusion"
    save_fusion(ChartFusion(WIDTH, seed=1), fusion_dir, {"reader": "reader-other"})
    assert keep_own_reader(fusion_dir, other, packaged)
    kept = fusion_dir / OWN_READER_DIR
    assert (kept / "reader.safetensors").read_bytes() == b"weights"
    meta = load_fusion(WIDTH, fusion_dir)[1]
    assert reader_for_fusion(fusion_dir, meta, "reader-packaged") == kept
    assert keep_own_reader(fusion_dir, kept, packaged)  # retrained over its own copy
    assert (kept / "reader.safetensors").read_bytes() == b"weights"
    assert not keep_own_reader(fusion_dir, packaged, packaged)  # retrained over the packaged
    assert not kept.exists()


def test_a_reader_retrained_in_place_is_kept_for_the_fusion_trained_over_it(
    tmp_path: Path,
) -> None:
    """Overwriting a reader keeps a copy for the fusion that reads with it, once; a fusion
    trained over another reader is left alone."""
    reader = _reader_folder(tmp_path / "reader", "reader-old")
    (reader / "reader.safetensors").write_bytes(b"old weights")
    fusion_dir, other_dir = tmp_path / "fusion", tmp_path / "other"
    save_fusion(ChartFusion(WIDTH, seed=1), fusion_dir, {"reader": "reader-old"})
    save_fusion(ChartFusion(WIDTH, seed=1), other_dir, {"reader": "reader-else"})
    assert keep_replaced_reader(fusion_dir, reader)
    assert not keep_replaced_reader(fusion_dir, reader)  # already kept
    assert not keep_replaced_reader(other_dir, reader)
    assert not (other_dir / OWN_READER_DIR).exists()
    kept = fusion_dir / OWN_READER_DIR
    assert (kept / "reader.safetensors").read_bytes() == b"old weights"
    meta = load_fusion(WIDTH, fusion_dir)[1]
    assert reader_for_fusion(fusion_dir, meta, "reader-new") == kept


def test_the_packaged_fusion_has_the_reader_it_was_trained_over() -> None:
    """The shipped pair: the fusion's reader is the packaged reader or kept beside it."""
    engine = {"enable_prompt_embeds": True}
    check_chart_fusion_reader(
        PonderConfig.model_validate({"encoder": {"enabled": True}, "decoder": {"engine": engine}})
    )


def test_the_baselines_run_on_the_plain_decoder_beside_a_trained_lora() -> None:
    """Stage 2 trains the fusion and a LoRA together; the baselines stay on the plain
    decoder (`DecoderText.plain`), which the training leaves as it was."""
    decoder = DecoderText(default_model_dir())
    tasks = make_tasks(4, "dev", seed=7)
    reader, _ = load_reader()
    inputs = chart_inputs(reader, tasks)
    fusion = ChartFusion(WIDTH, seed=1)
    prompt = fusion.prompt(decoder.text(tasks[0].question), inputs[0]).detach()
    answer = [decoder.answer_ids(tasks[0].answer)]
    with torch.no_grad():
        before = decoder.answer_loss([prompt], answer)
    decoder.add_lora(rank=4, seed=0)
    with torch.no_grad():  # a fresh LoRA starts as the identity (B = 0)
        assert torch.allclose(decoder.answer_loss([prompt], answer), before, atol=1e-5)
    train_fusion(fusion, decoder, tasks, inputs, 1, 4, 1e-3, 0, lambda _: None, 50, 1e-2)
    assert decoder.trainable() and all(p.grad is not None for p in decoder.trainable())
    with torch.no_grad():
        with decoder.plain():
            assert torch.allclose(decoder.answer_loss([prompt], answer), before, atol=1e-5)
        assert not torch.allclose(decoder.answer_loss([prompt], answer), before, atol=1e-3)
