"""`ponder train fusion`: fit the projections, the table encoder and the cross-modal
attention (with its gate) so the frozen decoder answers questions about images and tables.

The decoder is the same model vLLM serves, loaded in transformers (fp32, CPU) and frozen;
the loss is the cross-entropy of the answer's tokens after the fused prompt. The image
trunk is frozen too, so region features are computed once per image.

Measured on held-out examples (never trained on) as choice accuracy: the answer option
with the highest log-likelihood after the prompt, for three prompts of the same question:
  fused       image/table vectors + fused text (what Analyze sends)
  text-only   the question alone
  table-text  the table serialised as text before the question (tables only)
"""

from __future__ import annotations

import logging
import random
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from ponder.multimodal.inputs import ImageLimits, decode_image, preprocess_image
from ponder.multimodal.model import MultimodalModel
from ponder.multimodal.synthetic import Example, answer_class
from ponder.stats import proportion

log = logging.getLogger(__name__)

SUFFIX = " Answer with one word."
CONDITIONS = ("fused", "text-only", "table-text")


class FrozenDecoder:
    def __init__(self, model_dir: str) -> None:
        from transformers import AutoModelForCausalLM

        self.model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
        self.model.eval()
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)

    def answer_logprobs(
        self, prompts: list[torch.Tensor], answers: list[list[int]], answer_embeds: torch.Tensor
    ) -> torch.Tensor:
        """Sum of log p(answer tokens | prompt) per pair; differentiable in the prompts."""
        sequences = [
            torch.cat([p, answer_embeds[torch.tensor(a)]])
            for p, a in zip(prompts, answers, strict=True)
        ]
        longest = max(len(s) for s in sequences)
        width = sequences[0].shape[1]
        batch = torch.zeros(len(sequences), longest, width)
        mask = torch.zeros(len(sequences), longest, dtype=torch.long)
        for i, sequence in enumerate(sequences):
            batch[i, : len(sequence)] = sequence
            mask[i, : len(sequence)] = 1
        logits = self.model(inputs_embeds=batch, attention_mask=mask).logits
        logprobs = torch.log_softmax(logits, dim=-1)
        totals = []
        for i, (prompt, answer) in enumerate(zip(prompts, answers, strict=True)):
            start = len(prompt) - 1  # the position predicting the first answer token
            positions = torch.arange(start, start + len(answer))
            totals.append(logprobs[i, positions, torch.tensor(answer)].sum())
        return torch.stack(totals)


class FusionTrainer:
    def __init__(self, mm: MultimodalModel, decoder: FrozenDecoder) -> None:
        self.mm = mm
        self.decoder = decoder
        self._regions: dict[int, torch.Tensor] = {}

    def precompute_images(self, examples: list[Example], progress: Callable[[str], None]) -> None:
        """Region features of every image once (the trunk is frozen)."""
        todo = [e for e in examples if e.image is not None and id(e) not in self._regions]
        started = time.monotonic()
        for start in range(0, len(todo), 8):
            chunk = todo[start : start + 8]
            pixels = [preprocess_image(decode_image(e.image or b"", ImageLimits())) for e in chunk]
            regions = self.mm.image_regions(pixels)
            for example, r in zip(chunk, regions, strict=True):
                self._regions[id(example)] = r
        progress(f"  image features of {len(todo)} images in {time.monotonic() - started:.0f} s")

    def _answer_ids(self, text: str) -> list[int]:
        return list(self.mm.tokenizer.encode(text, add_special_tokens=False).ids)

    def prompt(self, example: Example, condition: str) -> torch.Tensor:
        question = example.question + SUFFIX
        if condition == "table-text" and example.table is not None:
            question = f"{example.table.as_text()}\n\n{question}"
        ids = self.mm.prompt_ids([{"role": "user", "content": question}])
        memory = None
        if condition == "fused":
            if example.image is not None:
                memory = self.mm.project_image(self._regions[id(example)])
            elif example.table is not None:
                memory = self.mm.encode_tables([example.table])[0][0]
        return self.mm.prompt_embeddings(ids, memory)

    def train(
        self,
        examples: list[Example],
        epochs: int,
        batch_size: int,
        learning_rate: float,
        seed: int,
        progress: Callable[[str], None],
    ) -> list[float]:
        self.mm.parts.train()
        optimizer = torch.optim.AdamW(self.mm.parts.parameters(), lr=learning_rate)
        rng = random.Random(seed)
        losses: list[float] = []
        started = time.monotonic()
        for epoch in range(epochs):
            order = list(examples)
            rng.shuffle(order)
            epoch_losses = []
            for start in range(0, len(order), batch_size):
                batch = order[start : start + batch_size]
                prompts = [self.prompt(e, "fused") for e in batch]
                answers = [self._answer_ids(e.answer) for e in batch]
                logprobs = self.decoder.answer_logprobs(prompts, answers, self.mm.embeddings)
                loss = -(logprobs / torch.tensor([len(a) for a in answers])).mean()
                optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.mm.parts.parameters(), 1.0)
                optimizer.step()
                epoch_losses.append(float(loss))
            losses.append(float(np.mean(epoch_losses)))
            progress(
                f"  epoch {epoch + 1}/{epochs}: loss {losses[-1]:.3f} "
                f"({time.monotonic() - started:.0f} s)"
            )
        self.mm.parts.eval()
        return losses

    @torch.no_grad()
    def evaluate(
        self, examples: list[Example], majority: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """Per kind and prompt condition: accuracy as k/n with its 95 % interval, accuracy
        per answer class, and how often each class was predicted (a model that always
        answers one class shows as one column); `majority` (kind -> the class most common
        in the training set) adds the majority-class baseline on these examples."""
        # kind -> condition -> (true class, predicted class) per example
        chosen: dict[str, dict[str, list[tuple[str, str]]]] = {}
        for example in examples:
            for condition in CONDITIONS:
                if condition == "table-text" and example.table is None:
                    continue
                prompt = self.prompt(example, condition)
                options = [self._answer_ids(o) for o in example.options]
                scores = self.decoder.answer_logprobs(
                    [prompt] * len(options), options, self.mm.embeddings
                )
                mean = scores / torch.tensor([len(o) for o in options])
                picked = example.options[int(torch.argmax(mean))]
                pairs = chosen.setdefault(example.kind, {}).setdefault(condition, [])
                pairs.append((answer_class(example), answer_class(example, picked)))
        report: dict[str, Any] = {}
        for kind, conditions in chosen.items():
            truths = [truth for truth, _ in next(iter(conditions.values()))]
            row: dict[str, Any] = {"examples": len(truths), "classes": dict(Counter(truths))}
            for condition, pairs in conditions.items():
                row[condition] = _scored(pairs)
            if majority and kind in majority:
                row["majority"] = {"class": majority[kind]} | proportion(
                    sum(truth == majority[kind] for truth in truths), len(truths)
                )
            report[kind] = row
        return report


def _scored(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """k/n with its interval, accuracy per true class, predictions per class."""
    per_class: dict[str, list[int]] = {}
    for truth, predicted in pairs:
        per_class.setdefault(truth, []).append(int(truth == predicted))
    return proportion(sum(truth == predicted for truth, predicted in pairs), len(pairs)) | {
        "per_class": {c: f"{sum(v)}/{len(v)}" for c, v in sorted(per_class.items())},
        "predicted": dict(sorted(Counter(predicted for _, predicted in pairs).items())),
    }


def majority_classes(examples: list[Example]) -> dict[str, str]:
    """kind -> the answer class most common among `examples` (ties: the first in order)."""
    counts: dict[str, Counter[str]] = {}
    for example in examples:
        counts.setdefault(example.kind, Counter())[answer_class(example)] += 1
    return {kind: counter.most_common(1)[0][0] for kind, counter in counts.items()}
