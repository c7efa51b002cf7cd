"""`ponder train chart-fusion`: fit the decoder-side chart fusion over the trained chart
reader (`ponder.multimodal.chart_fusion`), decoder and reader frozen, then measure what
the decoder answers on balanced held-out charts (seen styles and shifted styles) against
the question alone, the reader's reading written as text, and the majority class. The
weights and their metrics are written together (the packaged ones:
platform/ponder/multimodal/chart_fusion_weights/).
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

FUSION_DIR = env.REPO_ROOT / "platform" / "ponder" / "multimodal" / "chart_fusion_weights"
KINDS = ("bar", "line")


def cmd_train_chart_fusion(args: argparse.Namespace) -> int:
    import torch

    from ponder.multimodal.chart_evaluation import majority_answers
    from ponder.multimodal.chart_fusion import ChartFusion, load_fusion, save_fusion
    from ponder.multimodal.chart_fusion_training import (
        DecoderText,
        chart_inputs,
        evaluate_fusion,
        train_fusion,
    )
    from ponder.multimodal.chart_reader import DEFAULT_READER_DIR, load_reader
    from ponder.multimodal.chart_tasks import make_splits

    logging.basicConfig(level=logging.WARNING)
    torch.manual_seed(args.seed)
    started = time.monotonic()
    train, dev, test = make_splits(args.train, args.dev, args.test, args.seed, KINDS)
    say(f"rendered {len(train)} training, {len(dev)} dev and {len(test)} style-shifted charts")
    reader, reader_meta = load_reader(Path(args.reader) if args.reader else DEFAULT_READER_DIR)
    decoder = DecoderText(env.default_model_dir())
    out = Path(args.out)
    if args.evaluate_only:
        fusion, meta = load_fusion(int(decoder.embeddings.shape[1]), out)
        say(f"measuring chart fusion {meta['version']} from {out}")
    else:
        fusion = ChartFusion(
            int(decoder.embeddings.shape[1]),
            seed=args.seed,
            question_queries=args.question_queries,
        )
        inputs = chart_inputs(reader, train)
        say(f"read {len(train)} training charts ({time.monotonic() - started:.0f} s)")
        losses = train_fusion(
            fusion, decoder, train, inputs, args.epochs, args.batch_size, args.lr, args.seed, say
        )
        meta = {
            "reader": reader_meta["version"],
            "command": "ponder " + shlex.join(sys.argv[1:]),
            "trained_on": f"{len(train)} rendered bar and line charts' questions (split "
            f"train, seed {args.seed}), {args.epochs} epochs of {args.batch_size}, learning "
            f"rate {args.lr}; chart reader and decoder frozen",
            "held_out": {"dev": len(dev), "test_style_shifted": len(test), "balanced": True},
            "losses": [round(x, 4) for x in losses],
            "seconds": round(time.monotonic() - started),
            "threads": torch.get_num_threads(),
        }
    majority = majority_answers(train)
    meta["metrics"] = {
        "dev": evaluate_fusion(fusion, decoder, reader, dev, majority),
        "test_style_shifted": evaluate_fusion(fusion, decoder, reader, test, majority),
    }
    if args.evaluate_only:
        (out / "chart_fusion.json").write_text(json.dumps(meta, indent=2) + "\n")
        say(f"rewrote the metrics in {out / 'chart_fusion.json'}")
    else:
        version = save_fusion(fusion, out, meta)
        say(f"wrote chart fusion {version} to {out}")
    print(json.dumps(meta["metrics"], indent=2))
    return 0


def add_parser(jobs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = jobs.add_parser(
        "chart-fusion",
        help="fit the decoder-side fusion over the chart reader (decoder and reader frozen)",
    )
    parser.add_argument("--train", type=int, default=5000, help="training charts")
    parser.add_argument("--dev", type=int, default=90, help="held-out charts, seen styles")
    parser.add_argument("--test", type=int, default=90, help="held-out charts, shifted styles")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=16, dest="batch_size")
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reader", default="", help="chart reader folder (default: packaged)")
    parser.add_argument("--out", default=str(FUSION_DIR), help="where the fusion is written")
    parser.add_argument(
        "--question-queries",
        action="store_true",
        dest="question_queries",
        help="each prompt position asks the chart with its embedding plus the prompt's "
        "mean (a variant; default: its own embedding, as the seed's attention)",
    )
    parser.add_argument(
        "--evaluate-only",
        action="store_true",
        dest="evaluate_only",
        help="measure the fusion in --out again (same sets) and rewrite its metrics",
    )
    parser.set_defaults(func=cmd_train_chart_fusion)
