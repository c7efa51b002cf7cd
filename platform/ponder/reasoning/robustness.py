"""Robustness sets made by code: checked variants of MAWPS/ASDiv problems of one split
(distractor, renumber, reorder, question_swap, paraphrase), each with a prefix equation over
its own numbers in `extract_conditions` order, and GSM8K dev problems of two calculations. The
perturbations themselves are in `robustness_makers`, the wording they consult in
`robustness_text`.

    python -m ponder.reasoning.robustness --out bench/data/robust-dev.jsonl \
        --gsm8k-out bench/data/gsm8k-two-step-dev.jsonl [--seed 0]
"""

from __future__ import annotations

import argparse
import enum
import json
import random
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from ponder import env
from ponder.reasoning.plan import extract_conditions, format_number, parse_number
from ponder.reasoning.problems import is_correct, split_of
from ponder.reasoning.robustness_makers import (
    Made,
    Source,
    distractor,
    paraphrase,
    question_swap,
    renumber,
    reorder,
    source_from_row,
    to_prefix,
)
from ponder.training.domain_data import UnusableEquation, parse_prefix, read_rows, value_of


class Perturbation(enum.Enum):
    """How a variant differs from its parent problem."""

    DISTRACTOR = "distractor"
    RENUMBER = "renumber"
    REORDER = "reorder"
    QUESTION_SWAP = "question_swap"
    PARAPHRASE = "paraphrase"


GSM8K_TWO_STEP = "gsm8k_two_step"


@dataclass(frozen=True)
class Variant:
    """One robustness item; `equation` is prefix over the variant's own numbers."""

    id: str
    parent_id: str
    kind: str
    question: str
    answer: float
    equation: str


def check_variant(variant: Variant) -> bool:
    """The equation over the question's numbers (as the planner numbers them) gives the answer."""
    try:
        quantities = extract_conditions(variant.question).quantities
        value = value_of(parse_prefix(variant.equation), quantities)
    except (UnusableEquation, IndexError, ZeroDivisionError):
        return False
    return is_correct(value, variant.answer)


_MAKERS: dict[Perturbation, Callable[[Source, random.Random], Made]] = {
    Perturbation.DISTRACTOR: distractor,
    Perturbation.RENUMBER: renumber,
    Perturbation.REORDER: reorder,
    Perturbation.QUESTION_SWAP: question_swap,
    Perturbation.PARAPHRASE: paraphrase,
}


# -- the sets -----------------------------------------------------------------------------
def perturb_problems(
    rows: Iterable[dict[str, object]],
    kinds: Sequence[Perturbation] = tuple(Perturbation),
    seed: int = 0,
    split: str = "dev",
) -> list[Variant]:
    """Checked variants of the rows of `split` only (so augmenting "train" never takes a
    dev parent), each deterministic in (seed, parent id, kind)."""
    variants = []
    for position, row in enumerate(rows):
        if split_of(str(row["question"]).strip()) != split:
            continue
        src = source_from_row(row, position)
        for kind in kinds if src is not None else ():
            assert src is not None
            made = _MAKERS[kind](src, random.Random(f"{seed}/{src.id}/{kind.value}"))
            if made is None or made[0] == src.question:
                continue
            question, tree, answer = made
            variant_id = f"{src.id}/{kind.value}"
            variant = Variant(variant_id, src.id, kind.value, question, answer, to_prefix(tree))
            if check_variant(variant):
                variants.append(variant)
    return variants


_CALCULATION = re.compile(r"<<[^<>]*>>")


def gsm8k_two_step(rows: Sequence[dict[str, object]]) -> list[Variant]:
    """Dev-split GSM8K rows whose solution makes exactly two `<<...>>` calculations; the id
    carries the row's index (its line in the file)."""
    chosen = []
    for index, row in enumerate(rows):
        question = str(row["question"]).strip()
        solution, marker, final = str(row["answer"]).rpartition("####")
        answer = parse_number(final.strip()) if marker else None
        if split_of(question) != "dev" or answer is None:
            continue
        if len(_CALCULATION.findall(solution)) == 2:
            row_id = f"gsm8k-dev-{index}"
            chosen.append(Variant(row_id, row_id, GSM8K_TWO_STEP, question, answer, ""))
    return chosen


def write_jsonl(path: Path, variants: Iterable[Variant]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(asdict(v), sort_keys=True) + "\n" for v in variants]
    path.write_text("".join(lines))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ponder.reasoning.robustness")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--gsm8k-out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", type=Path, default=env.data_dir())
    args = parser.parse_args(argv)
    rows = read_rows(args.data_dir / "mawps_asdiv_train.jsonl")
    variants = perturb_problems(rows, seed=args.seed)
    two_step = gsm8k_two_step(read_rows(args.data_dir / "gsm8k_train.jsonl"))
    write_jsonl(args.out, variants)
    write_jsonl(args.gsm8k_out, two_step)
    parents = len({v.parent_id for v in variants})
    print(f"{len(variants)} variants of {parents} dev problems -> {args.out}")
    print(f"{len(two_step)} GSM8K two-step dev problems -> {args.gsm8k_out}")
    for kind in [k.value for k in Perturbation] + [GSM8K_TWO_STEP]:
        of_kind = [v for v in variants + two_step if v.kind == kind]
        print(f"{kind}: {len(of_kind)}")
        for v in random.Random(args.seed).sample(of_kind, min(2, len(of_kind))):
            print(f"  [{v.id}] {v.question}\n    = {format_number(v.answer)}  ({v.equation})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
