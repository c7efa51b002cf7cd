"""How the answer ranker should learn from outcomes, replayed on the model's own sampled
programs: the choice behind `ponder/learning/ranker_learner.py`.

Run:  .venv/bin/python bench/ranker_refit.py   (needs .state/verifier/{dev,robust}.jsonl,
      written by `ponder train verifier`)

The dev and robustness-dev samples (8 programs each, as served) are cut into the learning
benchmark's two halves (`ponder.learning.stream_split`): outcomes of the stream half are
learned from, in its fixed order, and every way of learning is measured on the held-out
half: right answers of the ranker's first candidate. Compared, each on the same problems:
- baselines: the held-out set's most frequent answer, one greedy pot branch (the first
  sample), the plain vote of the 8 programs;
- the packaged ranker (no learning);
- steps: one SGD step per outcome on the whole network, from the packaged weights, for
  every learning rate and pull towards the packaged weights of a small grid (all shown);
- refit on the stream's outcomes alone;
- refit on the rehearsal set (the packaged ranker's training rows) plus the outcomes,
  after 200, 400 and all of them: what the learner does.
Written to bench/results/ranker_refit.json.

With --by-story: what a refit learns, by story. The stream half's 1 206 problems are
variants of about 140 dev stories (each story's own problem, its robustness variant and
two more seeds of variants). For each of --folds folds, a third of the stories is kept
unseen; the refit (rehearsal set plus outcomes, as the learner fits) learns from every
other variant of the remaining stories and is measured, against the packaged ranker on
the same problems, on those stories' other variants and on the unseen stories. Written to
bench/results/ranker_refit_stories.json.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ponder import env  # noqa: E402
from ponder.learning.ranker_examples import top_right  # noqa: E402
from ponder.learning.stream_split import LearningProblems, learning_problems  # noqa: E402
from ponder.reasoning.problems import is_correct  # noqa: E402
from ponder.reasoning.ranker import AnswerRanker, load_ranker  # noqa: E402
from ponder.reasoning.ranker_fit import (  # noqa: E402
    RankingExample,
    examples_of,
    fit_ranker,
    fit_ranker_arrays,
    load_rehearsal,
)
from ponder.reasoning.verifier import SampledProblem, load_samples, replay  # noqa: E402

BRANCHES = 8
STEP_GRID = [(lr, pull) for lr in (0.003, 0.01, 0.03) for pull in (0.0, 0.1)]


def _say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def sgd_steps(
    ranker: AnswerRanker, stream: list[RankingExample], lr: float, pull: float
) -> AnswerRanker:
    """One step per outcome on the softmax cross-entropy over its candidates (uniform
    over the right ones), with an L2 pull towards the starting weights."""
    mean, std = np.asarray(ranker.mean), np.asarray(ranker.std)
    w0 = np.asarray(ranker.hidden_weights).T
    b0 = np.asarray(ranker.hidden_bias)
    v0 = np.asarray(ranker.output_weights)
    w, b, v = w0.copy(), b0.copy(), v0.copy()
    for example in stream:
        if not any(example.right) or len(example.rows) < 2:
            continue
        z = np.nan_to_num((np.asarray(example.rows) - mean) / std, posinf=0, neginf=0)
        pre = z @ w + b
        hidden = np.maximum(pre, 0)
        logits = hidden @ v
        p = np.exp(logits - logits.max())
        p /= p.sum()
        target = np.asarray(example.right, dtype=np.float64)
        g = p - target / target.sum()
        grad_v = hidden.T @ g + pull * (v - v0)
        back = np.outer(g, v) * (pre > 0)
        w -= lr * (z.T @ back + pull * (w - w0))
        b -= lr * (back.sum(axis=0) + pull * (b - b0))
        v -= lr * grad_v
    return AnswerRanker(
        version=f"steps-{lr}-{pull}",
        hidden_weights=tuple(tuple(row) for row in w.T.tolist()),
        hidden_bias=tuple(b.tolist()),
        output_weights=tuple(v.tolist()),
        mean=ranker.mean,
        std=ranker.std,
        search=ranker.search,
    )


def _halves_with_samples() -> tuple[LearningProblems, list[SampledProblem], list[SampledProblem]]:
    """The two halves, and the model's stored samples of the stream half's problems (in
    the stream's order) and of the held-out half's."""
    samples = env.REPO_ROOT / ".state" / "verifier"
    records = load_samples(samples / "dev.jsonl") + load_samples(samples / "robust.jsonl")
    halves = learning_problems(
        env.data_dir() / "mawps_asdiv_train.jsonl", ROOT / "bench" / "data" / "robust-dev.jsonl"
    )
    order = {p.question: i for i, p in enumerate(halves.stream)}
    held_questions = {p.question for p in halves.held_out}
    stream_records = sorted(
        (r for r in records if r.question in order), key=lambda r: order[r.question]
    )
    return halves, stream_records, [r for r in records if r.question in held_questions]


def paired(before: list[bool], after: list[bool]) -> dict[str, int]:
    return {
        "n": len(before),
        "packaged": sum(before),
        "refit": sum(after),
        "wins": sum(a and not b for b, a in zip(before, after, strict=True)),
        "losses": sum(b and not a for b, a in zip(before, after, strict=True)),
    }


def by_story(folds: int) -> int:
    """The --by-story measurement (see the module's text)."""
    halves, stream_records, _ = _halves_with_samples()
    packaged = load_ranker()
    examples = examples_of(stream_records, packaged.search, BRANCHES)
    story = [halves.story_of[r.question] for r in stream_records]
    stories = sorted(set(story))
    random.Random(0).shuffle(stories)
    variants: dict[str, list[int]] = {}
    for i, name in enumerate(story):
        variants.setdefault(name, []).append(i)
    rehearsal = load_rehearsal()
    rows = []
    for fold in range(folds):
        unseen = set(stories[fold::folds])
        learn, seen, new = [], [], []
        for name, index in variants.items():
            if name in unseen:
                new += index
            else:
                learn += index[0::2]
                seen += index[1::2]
        refit = fit_ranker_arrays(
            rehearsal.plus([examples[i] for i in sorted(learn)]), packaged.search
        )
        row: dict[str, Any] = {"fold": fold, "learned_from": len(learn)}
        for key, index in (("seen_stories", seen), ("unseen_stories", new)):
            chosen = [examples[i] for i in index]
            row[key] = paired(top_right(packaged, chosen), top_right(refit, chosen))
            # the baselines on the same problems: one greedy pot branch (the strongest
            # single pass) and the set's most frequent answer
            measured = [stream_records[i] for i in index]
            frequent = Counter(r.answer for r in measured).most_common(1)[0][0]
            row[key]["greedy_pot"] = sum(replay(r, 1, "greedy")[0] for r in measured)
            row[key]["most_frequent"] = sum(is_correct(frequent, r.answer) for r in measured)
        _say(f"fold {fold}: {row}")
        rows.append(row)
    result = {"stream_problems": len(examples), "stories": len(stories), "folds": rows}
    out = ROOT / "bench" / "results" / "ranker_refit_stories.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    _say(f"wrote {out}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--by-story", action="store_true", dest="by_story")
    parser.add_argument("--folds", type=int, default=3)
    args = parser.parse_args()
    if args.by_story:
        return by_story(args.folds)
    _, stream_records, held_records = _halves_with_samples()
    packaged = load_ranker()
    stream = examples_of(stream_records, packaged.search, BRANCHES)
    held = examples_of(held_records, packaged.search, BRANCHES)
    _say(f"{len(stream)} stream problems learned from, {len(held)} held-out problems")
    base = top_right(packaged, held)

    def row(method: str, ranker: AnswerRanker | list[bool], outcomes: int) -> dict[str, Any]:
        right = ranker if isinstance(ranker, list) else top_right(ranker, held)
        wins = sum(r and not b for b, r in zip(base, right, strict=True))
        losses = sum(b and not r for b, r in zip(base, right, strict=True))
        _say(f"{method}: {sum(right)}/{len(held)} (+{wins}/-{losses})")
        return {
            "method": method,
            "outcomes": outcomes,
            "right": sum(right),
            "wins": wins,
            "losses": losses,
        }

    # The baselines on the same problems and samples: the most frequent answer of the
    # held-out set, one greedy pot branch (the strongest single pass), the plain vote.
    answers = Counter(r.answer for r in held_records)
    frequent = answers.most_common(1)[0][0]
    rows = [
        row(
            "most frequent answer of the set",
            [is_correct(frequent, r.answer) for r in held_records],
            0,
        ),
        row("one greedy pot branch", [replay(r, 1, "greedy")[0] for r in held_records], 0),
        row(
            f"plain vote of {BRANCHES}",
            [replay(r, BRANCHES, "majority")[0] for r in held_records],
            0,
        ),
        row("packaged ranker", packaged, 0),
    ]
    for lr, pull in STEP_GRID:
        stepped = sgd_steps(packaged, stream, lr, pull)
        rows.append(row(f"steps, lr {lr}, pull {pull}", stepped, len(stream)))
    alone = fit_ranker(stream, packaged.search)
    rows.append(row("refit on the outcomes alone", alone, len(stream)))
    rehearsal = load_rehearsal()
    for count in (200, 400, len(stream)):
        refit = fit_ranker_arrays(rehearsal.plus(stream[:count]), packaged.search)
        rows.append(row("refit on rehearsal + outcomes", refit, count))
    result = {
        "branches": BRANCHES,
        "stream_problems": len(stream),
        "held_out_problems": len(held),
        "rehearsal_problems": len(rehearsal.sizes),
        "rows": rows,
    }
    out = ROOT / "bench" / "results" / "ranker_refit.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    _say(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
