"""`ponder train table-reader`: train the BiLSTM table encoder and its question attention
(`ponder.multimodal.table_reader`) on generated table questions, then measure it on a
balanced dev set (seen wordings, row names and domains) and a balanced shifted test set
(wordings, row names and a domain training never shows), beside the majority class and
the decoder's text-only and table-as-text baselines. The weights and their metrics are
written together (the packaged ones: platform/ponder/multimodal/table_reader_weights/).
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
import time
from pathlib import Path

from ponder import env
from ponder.cli.common import say

# ponder.multimodal.table_reader.DEFAULT_TABLE_READER_DIR / READER_META (not imported
# here, so that `ponder --help` does not load torch)
READER_DIR = env.REPO_ROOT / "platform" / "ponder" / "multimodal" / "table_reader_weights"
READER_META = "table_reader.json"


def cmd_train_table_reader(args: argparse.Namespace) -> int:
    """Train the reader (or, with --evaluate-only, load the one in --out) and measure it;
    the metrics go beside the weights."""
    import torch

    from ponder.multimodal.table_evaluation import (
        DecoderChooser,
        evaluate_tables,
        majority_answers,
    )
    from ponder.multimodal.table_reader import (
        TableFeaturizer,
        TableReader,
        load_table_reader,
        save_table_reader,
        train_reader,
    )
    from ponder.multimodal.table_tasks import data_key, make_table_tasks

    logging.basicConfig(level=logging.WARNING)
    torch.manual_seed(args.seed)
    started = time.monotonic()
    train = make_table_tasks(args.train, "train", seed=args.seed)
    seen = frozenset(data_key(t) for t in train)
    dev = make_table_tasks(args.dev, "dev", seed=args.seed, balanced=True, exclude=seen)
    test = make_table_tasks(args.test, "test", seed=args.seed, balanced=True, exclude=seen)
    say(f"made {len(train)} training, {len(dev)} dev and {len(test)} shifted table questions")
    out = Path(args.out)
    if args.evaluate_only:
        reader, meta = load_table_reader(out)
        say(f"measuring table reader {meta['version']} from {out}")
    layer = int(meta.get("question_layer", 0)) if args.evaluate_only else args.question_layer
    featurizer = TableFeaturizer.for_model(env.default_model_dir(), layer)
    featurizer.remember_questions([t.question for t in train + dev + test])
    if not args.evaluate_only:
        reader = TableReader(featurizer.width, hidden=args.hidden, seed=args.seed)
        losses = train_reader(
            reader, featurizer, train, args.epochs, args.batch_size, args.lr, args.seed, say,
            clip_norm=args.clip_norm,
        )  # fmt: skip
        clipped = f", gradient norm clipped at {args.clip_norm}" if args.clip_norm > 0 else ""
        meta = {
            "command": "ponder " + shlex.join(sys.argv[1:]),
            "trained_on": f"{len(train)} generated table questions (split train, seed "
            f"{args.seed}), {args.epochs} epochs of {args.batch_size}, learning rate {args.lr}"
            + clipped,
            "held_out": {"dev": len(dev), "test_shifted": len(test), "balanced": True},
            "question_layer": layer,
            "losses": [round(x, 4) for x in losses],
            "seconds": round(time.monotonic() - started),
            "threads": torch.get_num_threads(),
        }
    chooser = None if args.no_baselines else DecoderChooser(env.default_model_dir())
    majority = majority_answers(train)
    meta["metrics"] = {
        name: evaluate_tables(
            reader, featurizer, tasks, majority, chooser, args.min_confidence, say
        )
        for name, tasks in (("dev", dev), ("test_shifted", test))
    }
    if args.evaluate_only:
        (out / READER_META).write_text(json.dumps(meta, indent=2) + "\n")
        say(f"rewrote the metrics in {out / READER_META}")
    else:
        version = save_table_reader(reader, out, meta)
        say(f"wrote table reader {version} to {out}")
    print(json.dumps(meta["metrics"], indent=2))
    return 0


def add_parser(jobs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = jobs.add_parser(
        "table-reader", help="train the BiLSTM table encoder to read table questions"
    )
    parser.add_argument("--train", type=int, default=12_000, help="training questions")
    parser.add_argument("--dev", type=int, default=600, help="held-out questions, seen family")
    parser.add_argument("--test", type=int, default=600, help="held-out questions, shifted")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=64, dest="batch_size")
    parser.add_argument("--hidden", type=int, default=128, help="LSTM width per direction")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument(
        "--clip-norm",
        type=float,
        default=0.0,
        dest="clip_norm",
        help="clip each step's gradient norm at this value (0: no clipping, as the packaged "
        "reader was trained; 1 makes every seed measured converge, BENCHMARKS.md)",
    )
    parser.add_argument(
        "--question-layer",
        type=int,
        default=16,
        dest="question_layer",
        help="read questions through the decoder's states after this many of its 30 layers "
        "(0: through its token embeddings)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(READER_DIR), help="where the reader is written")
    parser.add_argument(
        "--min-confidence",
        type=float,
        default=0.5,
        dest="min_confidence",
        help="readings at least this sure count as answered (encoder.table_reader_min_confidence)",
    )
    parser.add_argument(
        "--no-baselines",
        action="store_true",
        dest="no_baselines",
        help="skip the decoder's text-only and table-as-text baselines (minutes on CPU)",
    )
    parser.add_argument(
        "--evaluate-only",
        action="store_true",
        dest="evaluate_only",
        help="measure the reader in --out again (same sets) and rewrite its metrics",
    )
    parser.set_defaults(func=cmd_train_table_reader)
