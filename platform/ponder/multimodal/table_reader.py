"""The table reader: a BiLSTM table encoder with cross-modal attention between the
question and the cells, trained on the table tasks (`table_tasks.py`) to say which
operation a question asks, which column it is about and which rows it names. The answer
is then worked out over those cells (`table_questions.answer_table_question`), so it
carries the cells it rests on; sums and differences go to Reason in Analyze.

Inputs are read through the decoder's own frozen token embeddings (each cell as the mean
embedding of its column header and the mean embedding of its text; the question token by
token), so words the reader was never trained on still mean what the decoder thinks they
mean. With `question_layer` > 0 the question is read instead through the decoder's hidden
states after that many of its layers (`QuestionStates`): a wording the reader never saw
is then read with the decoder's sense of the whole sentence, not word by word. Plain
torch; any table size (rows and columns are indices, not a fixed grid).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence, pad_sequence

from ponder.multimodal.chart_reader import warmup_cosine
from ponder.multimodal.inputs import Table
from ponder.multimodal.table_questions import TableReading
from ponder.multimodal.table_tasks import OPERATIONS, ROW_ANSWERS, TWO_ROWS, TableOperation
from ponder.multimodal.weights_files import save_half

IGNORE = -100
MATCH_FEATURES = 4  # text: match, where; header: match, where


@dataclass
class TableBatch:
    """Padded inputs for a batch of (question, table) pairs."""

    question: torch.Tensor  # [B, T, W] token embeddings
    question_lengths: torch.Tensor  # [B]
    cells: torch.Tensor  # [B, N, 2W]: header and text embeddings of each cell, row-major
    matches: torch.Tensor  # [B, N, MATCH_FEATURES]: how each cell's words meet the question's
    cell_lengths: torch.Tensor  # [B]
    cell_row: torch.Tensor  # [B, N] the cell's row (padding: 0)
    cell_column: torch.Tensor  # [B, N] the cell's column (padding: 0)
    rows: torch.Tensor  # [B] rows per table
    columns: torch.Tensor  # [B] columns per table


class QuestionStates:
    """The decoder's hidden states of a question after its first `layer` layers, each token
    layer-normalised (a few dimensions of these states are far larger than the rest).
    Frozen; only those layers are kept."""

    def __init__(self, model_dir: Path, layer: int) -> None:
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
        decoder = model.model
        decoder.layers = decoder.layers[:layer]
        decoder.config.num_hidden_layers = layer
        decoder.eval()
        self.layer = layer
        self._decoder = decoder

    @torch.inference_mode()
    def __call__(self, questions: Sequence[list[int]]) -> list[torch.Tensor]:
        longest = max(len(q) for q in questions)
        ids = torch.zeros(len(questions), longest, dtype=torch.long)
        mask = torch.zeros(len(questions), longest, dtype=torch.long)
        for i, question in enumerate(questions):
            ids[i, : len(question)] = torch.tensor(question)
            mask[i, : len(question)] = 1
        states = self._decoder(input_ids=ids, attention_mask=mask).last_hidden_state
        width = states.shape[-1]
        return [
            nn.functional.layer_norm(states[i, : len(q)], (width,)).clone()
            for i, q in enumerate(questions)
        ]


class TableFeaturizer:
    """Questions and tables -> `TableBatch`, through the decoder's token embeddings (each
    distinct cell text's embeddings are computed once).

    Besides the embeddings, each cell carries match features, as semantic parsers over
    tables use: for its text and for its column's header, how closely its tokens meet the
    question's (the mean over its tokens of the best cosine with any question token) and
    where in the question (the best-meeting position, 0 at the start to 1 at the end). A
    row the question names, or a column it asks about, then stands out whatever the
    words are, and the position tells the first-named row from the second."""

    def __init__(
        self,
        embeddings: torch.Tensor,
        encode: Callable[[str], list[int]],
        question_states: QuestionStates | None = None,
    ) -> None:
        self.embeddings = embeddings
        self._unit = nn.functional.normalize(embeddings, dim=-1)
        self._encode = encode
        self._texts: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self._states = question_states
        self._remembered: dict[str, torch.Tensor] | None = None

    def remember_questions(self, questions: Sequence[str], batch_size: int = 64) -> None:
        """Compute the decoder states of these questions once and keep them (training
        reads each question every epoch); a no-op when questions are read as embeddings."""
        if self._states is None:
            return
        self._remembered = self._remembered or {}
        todo = [q for q in dict.fromkeys(questions) if q not in self._remembered]
        for start in range(0, len(todo), batch_size):
            chunk = todo[start : start + batch_size]
            for question, states in zip(
                chunk, self._states([self._encode(q) or [0] for q in chunk]), strict=True
            ):
                self._remembered[question] = states.to(torch.bfloat16)

    def _questions(self, questions: Sequence[str]) -> list[torch.Tensor]:
        """Each question's token vectors: embeddings, or the decoder's states."""
        if self._states is None:
            return [self.embeddings[torch.tensor(self._encode(q) or [0])] for q in questions]
        known = self._remembered or {}
        missing = [q for q in questions if q not in known]
        fresh = (
            dict(zip(missing, self._states([self._encode(q) or [0] for q in missing]), strict=True))
            if missing
            else {}
        )
        return [known[q].float() if q in known else fresh[q] for q in questions]

    @classmethod
    def for_model(cls, model_dir: Path, question_layer: int = 0) -> TableFeaturizer:
        """The featurizer of the decoder in `model_dir`; questions read as embeddings, or
        (question_layer > 0) as its states after that many layers."""
        from tokenizers import Tokenizer

        from ponder.multimodal.model import load_embedding_table

        tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        return cls(
            load_embedding_table(model_dir),
            lambda text: list(tokenizer.encode(text, add_special_tokens=False).ids),
            QuestionStates(model_dir, question_layer) if question_layer > 0 else None,
        )

    @property
    def width(self) -> int:
        return int(self.embeddings.shape[1])

    def _text(self, text: str) -> tuple[torch.Tensor, torch.Tensor]:
        """A text's mean embedding and its tokens' unit embeddings."""
        if (found := self._texts.get(text)) is None:
            ids = torch.tensor(self._encode(" " + text) or [0])
            found = (self.embeddings[ids].mean(dim=0), self._unit[ids])
            if len(self._texts) < 100_000:
                self._texts[text] = found
        return found

    def text_vector(self, text: str) -> torch.Tensor:
        return self._text(text)[0]

    def _matches(self, texts: Sequence[str], question: torch.Tensor) -> torch.Tensor:
        """[len(texts), 2]: each text's match with the question's unit token embeddings
        [T, W], and where in the question it meets best."""
        out = torch.zeros(len(texts), 2)
        span = max(1, question.shape[0] - 1)
        for i, text in enumerate(texts):
            similarity = self._text(text)[1] @ question.T  # [tokens, T]
            out[i, 0] = similarity.max(dim=1).values.mean()
            out[i, 1] = float(similarity.sum(dim=0).argmax()) / span
        return out

    def batch(self, pairs: Sequence[tuple[str, Table]]) -> TableBatch:
        questions = self._questions([question for question, _ in pairs])
        cells, matches, rows_of, columns_of = [], [], [], []
        for question, table in pairs:
            unit_question = self._unit[torch.tensor(self._encode(question) or [0])]
            headers = [self.text_vector(c) for c in table.columns]
            header_matches = self._matches(table.columns, unit_question)
            texts = [text for row in table.rows for text in row]
            width = len(table.columns)
            cells.append(
                torch.stack(
                    [
                        torch.cat([headers[i % width], self.text_vector(t)])
                        for i, t in enumerate(texts)
                    ]
                )
            )
            matches.append(
                torch.cat(
                    [
                        self._matches(texts, unit_question),
                        header_matches.repeat(len(table.rows), 1),
                    ],
                    dim=1,
                )
            )
            rows_of.append(torch.arange(len(table.rows)).repeat_interleave(len(table.columns)))
            columns_of.append(torch.arange(len(table.columns)).repeat(len(table.rows)))
        return TableBatch(
            question=pad_sequence(questions, batch_first=True),
            question_lengths=torch.tensor([len(q) for q in questions]),
            cells=pad_sequence(cells, batch_first=True),
            matches=pad_sequence(matches, batch_first=True),
            cell_lengths=torch.tensor([len(c) for c in cells]),
            cell_row=pad_sequence(rows_of, batch_first=True),
            cell_column=pad_sequence(columns_of, batch_first=True),
            rows=torch.tensor([len(t.rows) for _, t in pairs]),
            columns=torch.tensor([len(t.columns) for _, t in pairs]),
        )


def _bilstm(lstm: nn.LSTM, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    output, _ = lstm(packed)
    unpacked, _ = pad_packed_sequence(output, batch_first=True, total_length=x.shape[1])
    return unpacked


def _mask(lengths: torch.Tensor, size: int) -> torch.Tensor:
    return torch.arange(size).unsqueeze(0) < lengths.unsqueeze(1)


class TableReader(nn.Module):
    """Question BiLSTM, cell BiLSTM (row-major), the cells' attention over the question's
    tokens, then heads: the operation (from the question, attention-pooled), and per cell
    a column score and two row scores (the first and the second row the question names);
    a column's logit is its cells' mean score, a row's the most of its cells' scores."""

    def __init__(self, token_width: int, hidden: int = 128, heads: int = 4, seed: int = 0):
        super().__init__()
        self.token_width, self.hidden = token_width, hidden
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            width = 2 * hidden
            self.question_in = nn.Linear(token_width, hidden)
            self.question_lstm = nn.LSTM(hidden, hidden, batch_first=True, bidirectional=True)
            self.question_out = nn.Linear(hidden + width, width)
            self.cell_in = nn.Linear(2 * token_width + MATCH_FEATURES, hidden)
            self.cell_lstm = nn.LSTM(hidden, hidden, batch_first=True, bidirectional=True)
            self.cell_out = nn.Linear(hidden + width, width)
            self.attention = nn.MultiheadAttention(width, heads, batch_first=True)
            self.cell_head = nn.Sequential(
                nn.Linear(3 * width + MATCH_FEATURES, hidden), nn.ReLU(), nn.Linear(hidden, 3)
            )
            self.pool_query = nn.Parameter(torch.randn(width) / math.sqrt(width))
            self.operation = nn.Sequential(
                nn.Linear(width, hidden), nn.ReLU(), nn.Linear(hidden, len(OPERATIONS))
            )

    def forward(self, batch: TableBatch) -> dict[str, torch.Tensor]:
        q_in = torch.relu(self.question_in(batch.question))
        q = self.question_out(
            torch.cat([q_in, _bilstm(self.question_lstm, q_in, batch.question_lengths)], -1)
        )
        c_in = torch.relu(self.cell_in(torch.cat([batch.cells, batch.matches], -1)))
        c = self.cell_out(torch.cat([c_in, _bilstm(self.cell_lstm, c_in, batch.cell_lengths)], -1))
        q_mask = _mask(batch.question_lengths, q.shape[1])
        c_mask = _mask(batch.cell_lengths, c.shape[1])
        read, _ = self.attention(c, q, q, key_padding_mask=~q_mask, need_weights=False)
        scores = self.cell_head(torch.cat([c, read, c * read, batch.matches], -1))  # [B, N, 3]
        weights = (q @ self.pool_query).masked_fill(~q_mask, -1e9).softmax(-1)
        pooled = (weights.unsqueeze(-1) * q).sum(1)
        return {
            "operation": self.operation(pooled),
            "column": _column_logits(scores[..., 0], batch, c_mask),
            "first_row": _row_logits(scores[..., 1], batch, c_mask),
            "second_row": _row_logits(scores[..., 2], batch, c_mask),
        }


def _column_logits(score: torch.Tensor, batch: TableBatch, mask: torch.Tensor) -> torch.Tensor:
    """[B, C]: the mean score of each column's cells; the first column (the rows' names)
    and columns past a table's width are never chosen."""
    size = int(batch.columns.max())
    total = torch.zeros(score.shape[0], size).scatter_add(
        1, batch.cell_column, score.masked_fill(~mask, 0.0)
    )
    logits = total / batch.rows.unsqueeze(1).float()
    valid = _mask(batch.columns, size)
    valid[:, 0] = False
    return logits.masked_fill(~valid, -1e9)


def _row_logits(score: torch.Tensor, batch: TableBatch, mask: torch.Tensor) -> torch.Tensor:
    """[B, R]: the highest score among each row's cells; rows past a table's length are
    never chosen."""
    size = int(batch.rows.max())
    start = torch.full((score.shape[0], size), -1e9)
    logits = start.scatter_reduce(
        1, batch.cell_row, score.masked_fill(~mask, -1e9), reduce="amax", include_self=True
    )
    return logits.masked_fill(~_mask(batch.rows, size), -1e9)


@dataclass(frozen=True)
class TableTargets:
    operation: torch.Tensor  # [B]
    column: torch.Tensor  # [B], IGNORE for other
    first_row: torch.Tensor  # [B], IGNORE for argmax, argmin and other
    second_row: torch.Tensor  # [B], IGNORE unless sum or difference

    @classmethod
    def of(cls, tasks: Sequence[Any]) -> TableTargets:
        """From TableTasks (anything with operation, column and rows)."""
        other = TableOperation.OTHER
        return cls(
            operation=torch.tensor([OPERATIONS.index(t.operation) for t in tasks]),
            column=torch.tensor([IGNORE if t.operation is other else t.column for t in tasks]),
            first_row=torch.tensor([t.rows[0] if t.rows else IGNORE for t in tasks]),
            second_row=torch.tensor([t.rows[1] if len(t.rows) > 1 else IGNORE for t in tasks]),
        )


def reading_loss(outputs: dict[str, torch.Tensor], targets: TableTargets) -> torch.Tensor:
    ce = nn.functional.cross_entropy
    return sum(
        (ce(outputs[name], getattr(targets, name), ignore_index=IGNORE) for name in outputs),
        start=torch.zeros(()),
    )


def decode_readings(outputs: dict[str, torch.Tensor]) -> list[TableReading]:
    probabilities = {name: logits.softmax(-1) for name, logits in outputs.items()}
    best = {name: p.max(-1) for name, p in probabilities.items()}
    out = []
    for b in range(outputs["operation"].shape[0]):
        operation = OPERATIONS[int(best["operation"].indices[b])]
        if operation is TableOperation.OTHER:  # not a question the reader answers
            out.append(TableReading(operation, -1, (), float(best["operation"].values[b])))
            continue
        heads = ["operation", "column"]
        if operation not in ROW_ANSWERS:
            heads.append("first_row")
        if operation in TWO_ROWS:
            heads.append("second_row")
        rows = tuple(int(best[h].indices[b]) for h in heads[2:])
        confidence = min(float(best[h].values[b]) for h in heads)
        out.append(TableReading(operation, int(best["column"].indices[b]), rows, confidence))
    return out


def read_tables(
    reader: TableReader,
    featurizer: TableFeaturizer,
    pairs: Sequence[tuple[str, Table]],
    batch_size: int = 128,
) -> list[TableReading]:
    reader.eval()
    out: list[TableReading] = []
    with torch.inference_mode():
        for start in range(0, len(pairs), batch_size):
            out += decode_readings(reader(featurizer.batch(pairs[start : start + batch_size])))
    return out


def train_reader(
    reader: TableReader,
    featurizer: TableFeaturizer,
    tasks: Sequence[Any],
    epochs: int,
    batch_size: int,
    learning_rate: float,
    seed: int,
    say: Callable[[str], None],
    clip_norm: float = 0.0,
) -> list[float]:
    """AdamW with a linear warm-up over the first tenth of the steps, then cosine decay,
    each step's gradient norm clipped at `clip_norm` (0: not clipped); returns each
    epoch's mean loss."""
    generator = torch.Generator().manual_seed(seed)
    steps = epochs * ((len(tasks) + batch_size - 1) // batch_size)
    optimiser = torch.optim.AdamW(reader.parameters(), lr=learning_rate, weight_decay=1e-4)
    schedule = warmup_cosine(optimiser, steps)
    targets = TableTargets.of(tasks)
    losses = []
    for epoch in range(epochs):
        reader.train()
        order = torch.randperm(len(tasks), generator=generator)
        total, batches = 0.0, 0
        for start in range(0, len(order), batch_size):
            index = order[start : start + batch_size]
            batch = featurizer.batch([(tasks[i].question, tasks[i].table) for i in index])
            chosen = TableTargets(
                *(getattr(targets, f)[index] for f in TableTargets.__dataclass_fields__)
            )
            loss = reading_loss(reader(batch), chosen)
            optimiser.zero_grad()
            loss.backward()
            if clip_norm > 0:
                torch.nn.utils.clip_grad_norm_(reader.parameters(), clip_norm)
            optimiser.step()
            schedule.step()
            total, batches = total + loss.item(), batches + 1
        losses.append(total / batches)
        say(f"epoch {epoch + 1}/{epochs}: loss {losses[-1]:.4f}")
    return losses


# -- the trained reader, versioned beside its metrics ---------------------------------------

READER_WEIGHTS = "table_reader.safetensors"
READER_META = "table_reader.json"
DEFAULT_TABLE_READER_DIR = Path(__file__).with_name("table_reader_weights")


def save_table_reader(reader: TableReader, folder: Path, meta: dict[str, Any]) -> str:
    """Write the weights (float16) and `meta` with a version from the weights' digest."""
    version = save_half(reader, folder / READER_WEIGHTS, "table-reader")
    shape = {"token_width": reader.token_width, "hidden": reader.hidden}
    (folder / READER_META).write_text(
        json.dumps({"version": version, "shape": shape} | meta, indent=2) + "\n"
    )
    return version


def load_table_reader(
    folder: Path = DEFAULT_TABLE_READER_DIR,
) -> tuple[TableReader, dict[str, Any]]:
    from safetensors.torch import load_file

    meta = json.loads((folder / READER_META).read_text())
    reader = TableReader(**meta["shape"])
    state = load_file(str(folder / READER_WEIGHTS))
    reader.load_state_dict({k: v.float() for k, v in state.items()})
    reader.eval()
    return reader, meta
