"""Encode / Analyze over gRPC through Serve: encoder pool (batched) -> fusion -> vLLM with
prompt embeddings; bad input gets INVALID_ARGUMENT and the pool keeps serving."""

from __future__ import annotations

import io
import json
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest
from PIL import Image, ImageDraw

import ponder.multimodal as multimodal_package
from deployments.runner import LocalPlatform
from ponder.api.client import PonderClient, build_analyze_request, build_request
from ponder.multimodal.chart_fusion import DEFAULT_DIR as CHART_FUSION_DIR
from ponder.multimodal.chart_questions import ChartReading, answer_question
from ponder.multimodal.chart_reader import DEFAULT_READER_DIR
from ponder.multimodal.chart_tasks import answer_is_right, make_tasks
from ponder.multimodal.table_reader import DEFAULT_TABLE_READER_DIR
from ponder.multimodal.table_tasks import TableOperation, TableTask, make_table_tasks
from ponder.v1 import ponder_pb2 as pb

pytestmark = pytest.mark.integration

PACKAGED_FUSION = json.loads(
    (Path(multimodal_package.__file__).parent / "multimodal.json").read_text()
)

CHART_FUSION = json.loads((CHART_FUSION_DIR / "chart_fusion.json").read_text())
CHART_VECTORS = range(1 + 4, 1 + 6 + 1)  # the chart's vector, one per category read (4-6)

BIG_TABLE = json.dumps({"columns": ["a"], "rows": [[i] for i in range(3000)]})
TABLE = json.dumps(
    {"columns": ["fruit", "sold"], "rows": [["apples", 12], ["pears", 30], ["plums", 7]]}
)


def _chart(values: list[int]) -> bytes:
    image = Image.new("RGB", (320, 240), "white")
    draw = ImageDraw.Draw(image)
    for i, value in enumerate(values):
        draw.rectangle((20 + i * 60, 220 - value * 4, 60 + i * 60, 220), fill="navy")
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def test_encode_image_and_table(client: PonderClient) -> None:
    image = client.encode(image=_chart([10, 30, 20]))
    assert (image.modality, image.vectors, image.width) == ("image", 49, 576)
    assert len(image.pooled) == 576 and image.batch_size >= 1
    # The packaged fusion weights (`ponder train fusion`) are loaded; `random_init` still
    # says true because the ResNet-101 trunk has no pretrained weights on this machine.
    assert image.weights_version == PACKAGED_FUSION["version"]
    assert image.random_init
    table = client.encode(table_json=TABLE)
    assert table.modality == "table"
    assert table.vectors == 2 + 6  # header cells + body cells
    assert len(table.pooled) == 576


def test_encoder_batches_concurrent_callers(client: PonderClient) -> None:
    images = [_chart([i, 40 - i, 20]) for i in range(16)]
    with ThreadPoolExecutor(max_workers=16) as pool:
        sizes = list(pool.map(lambda data: client.encode(image=data).batch_size, images))
    assert max(sizes) > 1, sizes


def test_analyze_with_image_table_and_both(client: PonderClient) -> None:
    # an image alone is fused through the chart reader's vectors (the chart fusion); with a
    # table beside it, through the generic encoders' 49 regions
    cases = [
        ({"image": _chart([5, 40, 15])}, CHART_VECTORS, 0, CHART_FUSION["version"]),
        ({"table_json": TABLE}, range(1), 8, PACKAGED_FUSION["version"]),
        (
            {"image": _chart([5, 40, 15]), "table_json": TABLE},
            range(49, 50),
            8,
            PACKAGED_FUSION["version"],
        ),
    ]
    for inputs, image_vectors, table_vectors, weights in cases:
        # not a question the chart or table reader answers: the fused prompt goes to the decoder
        request = build_analyze_request("Describe this table.", max_tokens=12, **inputs)  # type: ignore[arg-type]
        response = client.analyze(request)
        assert response.text and response.finish_reason
        assert response.method == pb.ANALYZE_METHOD_FUSED_DECODER
        assert response.image_vectors in image_vectors, response.image_vectors
        assert (response.table_vectors, response.weights_version) == (table_vectors, weights)
        assert response.usage.prompt_tokens > response.image_vectors + table_vectors
        chunks = list(client.stream_analyze(request))
        assert chunks[-1].finish_reason and "".join(c.text for c in chunks)


def test_the_image_changes_the_answer(client: PonderClient) -> None:
    """The fused image vectors reach the decoder: the same greedy question about four
    different charts does not get the same answer four times (through the chart fusion:
    an image alone is fused from the chart reader's vectors)."""
    charts = ([5, 40, 15], [40, 5, 15], [15, 15, 40], [30, 30, 30])
    answers = {
        client.analyze(
            build_analyze_request(
                "Describe this chart.", image=_chart(v), temperature=0.0, max_tokens=16
            )
        ).text
        for v in charts
    }
    assert len(answers) > 1, answers


def test_analyze_without_image_or_table_equals_generate(client: PonderClient) -> None:
    """Plain text through the embedding table reproduces the token prompt exactly."""
    question = "Name three colours of the rainbow."
    analyzed = client.analyze(build_analyze_request(question, temperature=0.0, max_tokens=24))
    generated = client.generate(
        build_request(messages=[("user", question)], temperature=0.0, max_tokens=24)
    )
    assert analyzed.text == generated.text
    assert analyzed.usage.prompt_tokens == generated.usage.prompt_tokens


def _png_header(width: int, height: int) -> bytes:
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("inputs", "field"),
    [
        ({"image": b"GIF89a not an image"}, "image"),
        ({"image": _chart([1, 2])[:100]}, "image"),
        ({"image": _png_header(8000, 8000)}, "image"),
        ({"table_json": "{oops"}, "table"),
        ({"table_json": '{"columns": ["a", "b"], "rows": [[1, 2], [3]]}'}, "table.rows[1]"),
        (
            {"table_json": json.dumps({"columns": ["a"], "rows": [[i] for i in range(3000)]})},
            "table",
        ),
    ],
)
def test_bad_inputs_get_invalid_argument_and_the_pool_keeps_serving(
    client: PonderClient, inputs: dict[str, object], field: str
) -> None:
    request = build_analyze_request("Describe it.", max_tokens=8, **inputs)  # type: ignore[arg-type]
    with pytest.raises(grpc.RpcError) as caught:
        client.analyze(request)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (caught.value.details() or "").startswith(field), caught.value.details()
    with pytest.raises(grpc.RpcError) as again:
        client.encode(**inputs)  # type: ignore[arg-type]
    assert again.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert client.encode(table_json=TABLE).vectors == 8  # still serving


def test_text_too_long_once_the_prefix_is_added(
    platform: LocalPlatform, client: PonderClient
) -> None:
    limit = platform.config.apps["ponder"].decoder.engine.max_model_len
    text = "word " * (limit - 40)  # fits alone; not with 49 image and 8 table positions
    request = build_analyze_request(text, image=_chart([3, 4]), table_json=TABLE, max_tokens=4)
    with pytest.raises(grpc.RpcError) as caught:
        client.analyze(request)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "image/table prefix" in (caught.value.details() or "")


# Ten charts in the style family training never shows (palettes, fonts, backgrounds):
# the first ten of a fixed stream of the style-shifted test split, every bar and line
# question type.
SHIFTED_CHARTS = make_tasks(10, "test", seed=2026, balanced=True, kinds=("bar", "line"))
READER = json.loads((DEFAULT_READER_DIR / "reader.json").read_text())
READ = (pb.ANALYZE_METHOD_CHART_READING, pb.ANALYZE_METHOD_CHART_READING_REASON)


def _as_reading(chart: pb.ChartReading) -> ChartReading:
    labels = tuple(v.label for v in chart.values)
    return ChartReading(chart.kind, labels, tuple(int(v.value) for v in chart.values), 100)


def _http_answers(platform: LocalPlatform) -> list[dict[str, object]]:
    import base64

    import httpx

    headers = {"authorization": f"Bearer {platform.api_token}"}
    with httpx.Client(base_url=platform.http_url, headers=headers, timeout=300) as http:
        replies = [
            http.post(
                "/v1/analyze",
                json={"text": t.question, "image": base64.b64encode(t.image or b"").decode()},
            )
            for t in SHIFTED_CHARTS
        ]
    assert all(r.status_code == 200 for r in replies), [r.text for r in replies]
    return [r.json() for r in replies]


def test_analyze_answers_chart_questions_from_what_the_reader_read(
    platform: LocalPlatform, client: PonderClient
) -> None:
    """Through gRPC and the seed's HTTP request (text plus a base64 image): a chart
    question is answered from the chart reader's reading when it is sure of it — the
    answer follows from the reading it returns, arithmetic is Reason's program over the
    values read — and otherwise takes the fused path; HTTP answers the same."""
    responses = [
        client.analyze(build_analyze_request(t.question, image=t.image)) for t in SHIFTED_CHARTS
    ]
    read = 0
    for task, response in zip(SHIFTED_CHARTS, responses, strict=True):
        if response.method == pb.ANALYZE_METHOD_FUSED_DECODER:
            assert response.image_vectors in CHART_VECTORS and not response.values_used
            assert response.weights_version == CHART_FUSION["version"]
            continue
        read += 1
        assert response.method in READ and response.chart.reader_version == READER["version"]
        reading = _as_reading(response.chart)
        expected = answer_question(task.question, reading)
        assert expected is not None
        used = [(v.label, int(v.value)) for v in response.values_used]
        assert used == list(expected.used)
        if task.needs_arithmetic:  # Reason's own program over the values read
            assert response.method == pb.ANALYZE_METHOD_CHART_READING_REASON
            numbers = sorted(int(n) for n in re.findall(r"\d+", response.expression))
            assert numbers == sorted(value for _, value in used), response.expression
            assert float(response.text) == eval(response.expression)
            assert response.usage.completion_tokens > 0
        else:
            assert response.method == pb.ANALYZE_METHOD_CHART_READING
            assert response.text == expected.answer
        if task.question_type == "trend":
            assert answer_is_right(task, response.text)
    assert read >= 5, "the chart reader answered fewer than half the chart questions"
    over_http = _http_answers(platform)
    assert [b["analysis"] for b in over_http] == [r.text for r in responses]
    assert [pb.AnalyzeMethod.Value(str(b["method"])) for b in over_http] == [
        r.method for r in responses
    ]


@pytest.mark.xfail(
    strict=True,
    reason="issue 28's goal, not met yet: 9 of the 10 are right through this platform. The "
    "chart reader reads 68 % of style-shifted charts entirely right (BENCHMARKS.md, 'Reading "
    "charts'); here its readings answer 9 at or above the confidence bound, the difference "
    "question by Reason over the values stated as the question names them. The one it is "
    "not sure of (the smallest of five fruit bars: 'lemon' read as 'cherries', so 'cherr' "
    "decoded as 'peaches', 0.06 sure) "
    "goes to the fused path, whose chart fusion answers trends but not which bar is lowest "
    "(BENCHMARKS.md, 'Fusing the chart reader into the decoder', stages 1 and 2). Strict: "
    "once all ten are right, this marker must go.",
)
def test_analyze_answers_ten_charts_in_a_style_never_seen_in_training(
    client: PonderClient,
) -> None:
    wrong = []
    for task in SHIFTED_CHARTS:
        response = client.analyze(build_analyze_request(task.question, image=task.image))
        if not answer_is_right(task, response.text):
            wrong.append((task.question, task.answer, response.text, response.method))
    assert not wrong, f"{len(wrong)} of {len(SHIFTED_CHARTS)} wrong: {wrong}"


# Ten questions about tables never trained on (the dev split: seen wordings and domains,
# every operation the reader answers, balanced answer positions).
DEV_TABLES = [
    t
    for t in make_table_tasks(12, "dev", seed=2026, balanced=True)
    if t.operation is not TableOperation.OTHER
][:10]
TABLE_READER = json.loads((DEFAULT_TABLE_READER_DIR / "table_reader.json").read_text())
TABLE_READ = (pb.ANALYZE_METHOD_TABLE_READING, pb.ANALYZE_METHOD_TABLE_READING_REASON)


def _table_json(task: TableTask) -> str:
    return json.dumps(
        {"columns": list(task.table.columns), "rows": [list(r) for r in task.table.rows]}
    )


def test_analyze_answers_table_questions_from_the_cells_the_reader_picked(
    platform: LocalPlatform, client: PonderClient
) -> None:
    """Through gRPC and HTTP: a table question is answered from the cells the table reader
    points at (a cell, the largest or smallest row), arithmetic by Reason's own program
    over those cells; a request that is not such a question takes the fused path."""
    import httpx

    responses = [
        client.analyze(build_analyze_request(t.question, table_json=_table_json(t)))
        for t in DEV_TABLES
    ]
    for task, response in zip(DEV_TABLES, responses, strict=True):
        assert response.method in TABLE_READ, (task.question, response.method)
        assert response.table.reader_version == TABLE_READER["version"]
        assert response.table.column == task.table.columns[task.column], task.question
        used = [(v.label, int(v.value)) for v in response.values_used]
        if task.expression:  # Reason's own program over the cells used
            assert response.method == pb.ANALYZE_METHOD_TABLE_READING_REASON
            assert used == list(task.used)
            numbers = sorted(int(n) for n in re.findall(r"\d+", response.expression))
            assert numbers == sorted(value for _, value in used), response.expression
            assert float(response.text) == eval(response.expression)
            assert response.usage.completion_tokens > 0
        else:
            assert response.method == pb.ANALYZE_METHOD_TABLE_READING
            assert response.text == task.answer, task.question
    fused = client.analyze(
        build_analyze_request("Describe this table.", table_json=_table_json(DEV_TABLES[0]))
    )
    assert fused.method == pb.ANALYZE_METHOD_FUSED_DECODER and fused.table_vectors > 0
    headers = {"authorization": f"Bearer {platform.api_token}"}
    with httpx.Client(base_url=platform.http_url, headers=headers, timeout=300) as http:
        replies = [
            http.post("/v1/analyze", json={"text": t.question, "table": json.loads(_table_json(t))})
            for t in DEV_TABLES
        ]
    assert all(r.status_code == 200 for r in replies), [r.text for r in replies]
    assert [r.json()["analysis"] for r in replies] == [r.text for r in responses]
