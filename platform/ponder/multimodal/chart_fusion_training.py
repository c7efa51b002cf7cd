"""`ponder train chart-fusion`: fit the chart fusion's projections and attention
(`chart_fusion.py`) so the decoder answers questions about rendered charts from the
frozen chart reader's vectors, in the issue's two stages:
  1. alignment: the decoder frozen, only the fusion trained;
  2. instruction tuning: from stage 1, the fusion and a LoRA on the decoder together.

The decoder is the one vLLM serves, loaded in transformers (fp32, CPU). The loss is the
cross-entropy of the answer's tokens and the end of the turn after the prompt, so a
served answer is the answer and stops.

Measured on held-out charts by what the decoder writes, greedily, as Analyze's fused
path would. A reply is graded by the first answer it names (`reply_answer`: the first of
the chart's labels or trends it mentions, a month's full name counting as its label; or
its first number), so a baseline that answers in a sentence is not marked down for it:
  fused         the chart's vectors + the fused question (what Analyze sends), through
                the stage's decoder (with its LoRA in stage 2)
  text-only     the question alone (the plain decoder, as for the next)
  reading-text  the reader's reading written out before the question ("A bar chart:
                Jan 45, Feb 30, ..."), the honest baseline: does the fusion give the
                decoder more than the reading as words would?
and the majority class of the training set.
"""

from __future__ import annotations

import random
import re
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import torch

from ponder.multimodal.chart_evaluation import majority_is_right
from ponder.multimodal.chart_fusion import (
    ChartFusion,
    ChartMemoryInputs,
    memory_inputs,
    memory_inputs_of,
)
from ponder.multimodal.chart_questions import ChartReading
from ponder.multimodal.chart_reader import ChartReader, decode_readings, normalise, raw_pixels
from ponder.multimodal.chart_tasks import MONTHS, ChartTask, answer_is_right
from ponder.multimodal.model import load_embedding_table
from ponder.stats import proportion

CONDITIONS = ("fused", "text-only", "reading-text")
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
END_OF_TURN = "<|im_end|>"
REPLY_TOKENS = 16
_MONTH_NAMES = (
    "january", "february", "march", "april", "may", "june", "july", "august",
    "september", "october", "november", "december",
)  # fmt: skip
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_WORDS = re.compile(r"[a-z]+")


def reply_answer(task: ChartTask, reply: str) -> str:
    """The first answer a reply names: its first number for a number question; else the
    first of the question's choices (the chart's labels, or the trends) among its words."""
    if task.answer_class == "number":
        number = _NUMBER.search(reply.replace(",", ""))
        return number.group() if number else ""
    choices = {option.lower(): option for option in task.options}
    for word in _WORDS.findall(reply.lower()):
        if word in _MONTH_NAMES:
            word = MONTHS[_MONTH_NAMES.index(word)].lower()
        if word in choices:
            return choices[word]
    return ""


def reading_text(reading: ChartReading) -> str:
    """The reading as a sentence, e.g. "A bar chart: Jan 45, Feb 30, Mar 60."."""
    pairs = ", ".join(
        f"{label} {value}" for label, value in zip(reading.labels, reading.values, strict=True)
    )
    return f"A {reading.kind} chart: {pairs}."


class DecoderText:
    """The decoder and its text side: chat-templated prompt ids, token embeddings. Frozen,
    unless a LoRA is added (stage 2): then only the LoRA's weights train."""

    def __init__(self, model_dir: Path) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.model: Any = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
        self.model.eval()
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)
        self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
        self.embeddings = load_embedding_table(model_dir)
        self.end_of_turn = int(self.tokenizer.encode(END_OF_TURN, add_special_tokens=False)[0])
        self.peft: Any = None

    def add_lora(self, rank: int, seed: int) -> None:
        """A fresh LoRA (rank `rank`, alpha 2 x rank, no dropout) on every attention and MLP
        projection of every layer, injected in place: `model` runs with it from now on."""
        from peft import LoraConfig, get_peft_model

        torch.manual_seed(seed)
        config = LoraConfig(
            r=rank,
            lora_alpha=2 * rank,
            lora_dropout=0.0,
            target_modules=list(LORA_TARGETS),
            bias="none",
            task_type="CAUSAL_LM",
        )
        self.peft = get_peft_model(self.model, config)

    def load_lora(self, folder: Path) -> None:
        """The LoRA saved in `folder` (peft layout), frozen, injected in place."""
        from peft import PeftModel

        self.peft = PeftModel.from_pretrained(self.model, str(folder))

    def trainable(self) -> list[torch.nn.Parameter]:
        return [p for p in self.model.parameters() if p.requires_grad]

    def plain(self) -> AbstractContextManager[Any]:
        """Inside: the decoder without its LoRA (the baselines run on the plain decoder)."""
        return self.peft.disable_adapter() if self.peft is not None else nullcontext()

    def prompt_ids(self, text: str) -> list[int]:
        ids: Any = self.tokenizer.apply_chat_template(
            [{"role": "user", "content": text}], tokenize=True, add_generation_prompt=True
        )
        if not isinstance(ids, list):  # newer transformers return a BatchEncoding
            ids = ids["input_ids"]
        return [int(i) for i in ids]

    def text(self, text: str) -> torch.Tensor:
        return self.embeddings[torch.tensor(self.prompt_ids(text), dtype=torch.long)]

    def answer_ids(self, answer: str) -> list[int]:
        return [*self.tokenizer.encode(answer, add_special_tokens=False), self.end_of_turn]

    def answer_loss(self, prompts: list[torch.Tensor], answers: list[list[int]]) -> torch.Tensor:
        """Mean over the batch of each answer's mean token cross-entropy after its prompt;
        differentiable in the prompts (right-padded; logits only where answers are)."""
        answer_embeds = [self.embeddings[torch.tensor(a)] for a in answers]
        sequences = [torch.cat([p, a]) for p, a in zip(prompts, answer_embeds, strict=True)]
        longest = max(len(s) for s in sequences)
        batch = torch.zeros(len(sequences), longest, sequences[0].shape[1])
        mask = torch.zeros(len(sequences), longest, dtype=torch.long)
        for i, sequence in enumerate(sequences):
            batch[i, : len(sequence)] = sequence
            mask[i, : len(sequence)] = 1
        hidden = self.model.model(inputs_embeds=batch, attention_mask=mask).last_hidden_state
        losses = []
        for i, (prompt, answer) in enumerate(zip(prompts, answers, strict=True)):
            start = len(prompt) - 1  # the position predicting the first answer token
            logits = self.model.lm_head(hidden[i, start : start + len(answer)])
            losses.append(torch.nn.functional.cross_entropy(logits, torch.tensor(answer)))
        return torch.stack(losses).mean()

    @torch.no_grad()
    def greedy(self, prompt: torch.Tensor, max_tokens: int = REPLY_TOKENS) -> str:
        """What the decoder writes after `prompt` [T, width], greedily, to the turn's end."""
        out = self.model.generate(
            inputs_embeds=prompt[None],
            attention_mask=torch.ones(1, prompt.shape[0], dtype=torch.long),
            max_new_tokens=max_tokens,
            do_sample=False,
            eos_token_id=self.end_of_turn,
            pad_token_id=self.end_of_turn,
        )
        return str(self.tokenizer.decode(out[0], skip_special_tokens=True)).strip()


def chart_inputs(
    reader: ChartReader, tasks: Sequence[ChartTask], batch_size: int = 64
) -> list[ChartMemoryInputs]:
    """Each task's chart through the frozen reader, once."""
    out: list[ChartMemoryInputs] = []
    for start in range(0, len(tasks), batch_size):
        out += memory_inputs(reader, normalise(raw_pixels(tasks[start : start + batch_size])))
    return out


def train_fusion(
    fusion: ChartFusion,
    decoder: DecoderText,
    tasks: Sequence[ChartTask],
    inputs: Sequence[ChartMemoryInputs],
    epochs: int,
    batch_size: int,
    learning_rate: float,
    seed: int,
    progress: Callable[[str], None],
    report_every: int = 50,
    lora_learning_rate: float = 5e-4,
) -> list[float]:
    """AdamW over the fusion's weights (and the decoder's LoRA, when it has one, at
    `lora_learning_rate`), cosine-decayed; -> mean loss per epoch."""
    fusion.train()
    groups: list[dict[str, Any]] = [{"params": list(fusion.parameters()), "lr": learning_rate}]
    if decoder.trainable():
        groups.append({"params": decoder.trainable(), "lr": lora_learning_rate})
    trained = [p for group in groups for p in group["params"]]
    optimiser = torch.optim.AdamW(groups, weight_decay=0.01)
    steps = epochs * -(-len(tasks) // batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, steps)
    texts = [decoder.text(t.question) for t in tasks]
    answers = [decoder.answer_ids(t.answer) for t in tasks]
    rng = random.Random(seed)
    losses: list[float] = []
    started = time.monotonic()
    for epoch in range(epochs):
        order = list(range(len(tasks)))
        rng.shuffle(order)
        total = 0.0
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            prompts = [fusion.prompt(texts[i], inputs[i]) for i in batch]
            loss = decoder.answer_loss(prompts, [answers[i] for i in batch])
            optimiser.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trained, 1.0)
            optimiser.step()
            schedule.step()
            total += float(loss.detach()) * len(batch)
            step = start // batch_size + 1
            if step % report_every == 0:
                progress(f"  step {step}: loss {float(loss.detach()):.3f}")
        losses.append(total / len(order))
        progress(
            f"  epoch {epoch + 1}/{epochs}: loss {losses[-1]:.3f} "
            f"({time.monotonic() - started:.0f} s)"
        )
    fusion.eval()
    return losses


@torch.no_grad()
def evaluate_fusion(
    fusion: ChartFusion,
    decoder: DecoderText,
    reader: ChartReader,
    tasks: Sequence[ChartTask],
    majority: dict[str, str],
) -> dict[str, Any]:
    """Per question type, k/n (with its interval) of replies that are the answer, for
    each condition and the majority class, and a few replies of each condition."""
    inputs: list[ChartMemoryInputs] = []
    readings: list[ChartReading] = []
    reader.eval()
    for start in range(0, len(tasks), 64):  # one reader pass gives both
        out = reader.read_with_features(normalise(raw_pixels(tasks[start : start + 64])))
        inputs += memory_inputs_of(out)
        readings += decode_readings(out)
    right: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    samples: dict[str, list[str]] = defaultdict(list)
    for task, chart, reading in zip(tasks, inputs, readings, strict=True):
        name = f"{task.kind}/{task.question_type}"
        prompts = {
            "fused": fusion.prompt(decoder.text(task.question), chart),
            "text-only": decoder.text(task.question),
            "reading-text": decoder.text(f"{reading_text(reading)}\n\n{task.question}"),
        }
        right[name]["n"] += 1
        right[name]["majority"] += name in majority and majority_is_right(task, majority[name])
        for condition, prompt in prompts.items():
            with nullcontext() if condition == "fused" else decoder.plain():
                reply = decoder.greedy(prompt)
            right[name][condition] += answer_is_right(task, reply_answer(task, reply))
            if len(samples[condition]) < 6:
                samples[condition].append(f"{task.question} -> {reply!r} ({task.answer})")
    report: dict[str, Any] = {}
    for name, counts in sorted(right.items()):
        n = counts["n"]
        report[name] = {"n": n} | {
            key: proportion(counts[key], n) for key in ("majority", *CONDITIONS)
        }
    totals = {key: sum(c[key] for c in right.values()) for key in ("n", "majority", *CONDITIONS)}
    report["all"] = {"n": totals["n"]} | {
        key: proportion(totals[key], totals["n"]) for key in ("majority", *CONDITIONS)
    }
    return {"per_type": report, "samples": dict(samples)}
