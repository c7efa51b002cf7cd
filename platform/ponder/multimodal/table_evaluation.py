"""How often table questions are answered right, per question type, by the table reader
and by its baselines on the same held-out tasks:

- majority class: the training set's most common answer class per question type (for row
  answers a position, for numbers the most common number);
- text-only: the decoder given the question alone;
- table-as-text: the decoder given the table serialised into the prompt, then the
  question (the honest baseline for tables);
- reader: the table reader's reading, then the answer worked out over the cells.

The decoder baselines are choice accuracy, generous on purpose: the candidate with the
highest log-likelihood after the prompt, among the queried column's row names (row
answers), its values (lookup), or every sum or difference of two of its values.
"""

from __future__ import annotations

import copy
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from itertools import combinations
from pathlib import Path
from typing import Any

import torch

from ponder.multimodal.table_questions import answer_table_question
from ponder.multimodal.table_reader import TableFeaturizer, TableReader, read_tables
from ponder.multimodal.table_tasks import ROW_ANSWERS, TableOperation, TableTask

SUFFIX = " Answer with one word or number."


def majority_answers(train: Sequence[TableTask]) -> dict[str, str]:
    by_type: dict[str, Counter[str]] = defaultdict(Counter)
    for task in train:
        if task.operation is TableOperation.OTHER:
            continue
        row_answer = task.operation in ROW_ANSWERS
        by_type[task.operation.value][task.answer_class if row_answer else task.answer] += 1
    return {name: counts.most_common(1)[0][0] for name, counts in by_type.items()}


def _majority_right(task: TableTask, majority: str) -> bool:
    if majority.startswith("position "):
        position = int(majority.split()[1]) - 1
        return position < len(task.table.rows) and task.row_names[position] == task.answer
    return majority == task.answer


def candidates(task: TableTask) -> tuple[str, ...]:
    """The answers a decoder baseline chooses among (the right one always included)."""
    values = task.column_values
    if task.operation in ROW_ANSWERS:
        return task.row_names
    if task.operation is TableOperation.LOOKUP:
        found = values
    elif task.operation is TableOperation.SUM:
        found = tuple(a + b for a, b in combinations(values, 2))
    else:
        found = tuple(abs(a - b) for a, b in combinations(values, 2))
    return tuple(dict.fromkeys(str(v) for v in found))


class DecoderChooser:
    """The frozen decoder (transformers, CPU) picking among candidate answers."""

    def __init__(self, model_dir: Path) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
        self.model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
        self.model.eval()

    def _prompt(self, text: str) -> list[int]:
        ids: Any = self.tokenizer.apply_chat_template(
            [{"role": "user", "content": text}], tokenize=True, add_generation_prompt=True
        )
        if not isinstance(ids, list):
            ids = ids["input_ids"]
        return [int(i) for i in ids]

    @torch.inference_mode()
    def choose(self, text: str, options: Sequence[str]) -> str:
        """The option with the highest log p(option | prompt): the prompt is run once; the
        options of each token length continue together from copies of its cache."""
        prompt = torch.tensor([self._prompt(text)])
        first = self.model(input_ids=prompt, use_cache=True)
        opening = first.logits[0, -1].log_softmax(-1)
        answers = [self.tokenizer.encode(o, add_special_tokens=False) for o in options]
        scores = [float(opening[a[0]]) for a in answers]
        by_length: dict[int, list[int]] = defaultdict(list)
        for i, answer in enumerate(answers):
            if len(answer) > 1:
                by_length[len(answer)].append(i)
        for length, group in by_length.items():
            cache = copy.deepcopy(first.past_key_values)
            cache.batch_repeat_interleave(len(group))
            rest = torch.tensor([answers[i][:-1] for i in group])
            logprobs = self.model(input_ids=rest, past_key_values=cache).logits.log_softmax(-1)
            for row, i in enumerate(group):
                steps = torch.arange(length - 1)
                scores[i] += float(logprobs[row, steps, torch.tensor(answers[i][1:])].sum())
        return options[max(range(len(options)), key=scores.__getitem__)]


def evaluate_tables(
    reader: TableReader,
    featurizer: TableFeaturizer,
    tasks: Sequence[TableTask],
    majority: dict[str, str],
    chooser: DecoderChooser | None = None,
    min_confidence: float = 0.5,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Per question type: n, and k right for the majority class, the reader (all its
    answers, and those at least `min_confidence` sure: what Analyze answers from the
    reading), and, with a chooser, the text-only and table-as-text decoder baselines.
    For `other` questions (none the reader answers) `read` counts those it rightly left
    alone and `answered` those it answered anyway."""
    readings = read_tables(reader, featurizer, [(t.question, t.table) for t in tasks])
    fields = ("n", "majority", "read", "answered", "answered_right", "text_only", "table_text")
    per_type: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(fields, 0))
    for i, (task, reading) in enumerate(zip(tasks, readings, strict=True)):
        answer = answer_table_question(reading, task.table)
        sure = answer is not None and reading.confidence >= min_confidence
        row = per_type[task.operation.value]
        if task.operation is TableOperation.OTHER:
            row["n"] += 1
            row["read"] += answer is None
            row["answered"] += sure
            continue
        right = answer is not None and answer.answer == task.answer
        row["n"] += 1
        row["majority"] += _majority_right(task, majority.get(task.operation.value, ""))
        row["read"] += right
        row["answered"] += sure
        row["answered_right"] += sure and right
        if chooser is not None:
            options = candidates(task)
            question = task.question + SUFFIX
            row["text_only"] += chooser.choose(question, options) == task.answer
            with_table = f"{task.table.as_text()}\n\n{question}"
            row["table_text"] += chooser.choose(with_table, options) == task.answer
            if (i + 1) % 100 == 0:
                progress(f"  decoder baselines: {i + 1}/{len(tasks)}")
    return {
        "min_confidence": min_confidence,
        "decoder_baselines": chooser is not None,
        "answers": dict(sorted(per_type.items())),
    }
