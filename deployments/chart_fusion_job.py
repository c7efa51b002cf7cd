"""`ponder train chart-fusion`: fit the decoder-side chart fusion over the trained chart
reader (`ponder.multimodal.chart_fusion`), reader frozen; stage 1 with the decoder frozen,
stage 2 from stage 1 with a LoRA on the decoder; then measure what
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
from typing import Any

from ponder import env
from ponder.cli.common import say

FUSION_DIR = env.REPO_ROOT / "platform" / "ponder" / "multimodal" / "chart_fusion_weights"
KINDS = ("bar", "line")


def cmd_train_chart_fusion(args: argparse.Namespace) -> int:
    import torch

    from ponder.multimodal.chart_evaluation import majority_answers
    from ponder.multimodal.chart_fusion import ADAPTER_DIR, keep_own_reader, save_fusion
    from ponder.multimodal.chart_fusion_training import DecoderText, evaluate_fusion
    from ponder.multimodal.chart_reader import DEFAULT_READER_DIR, load_reader
    from ponder.multimodal.chart_tasks import make_splits
    from ponder.training.loop import save_adapter

    logging.basicConfig(level=logging.WARNING)
    torch.manual_seed(args.seed)
    started = time.monotonic()
    train, dev, test = make_splits(args.train, args.dev, args.test, args.seed, KINDS)
    say(f"rendered {len(train)} training, {len(dev)} dev and {len(test)} style-shifted charts")
    reader_dir = Path(args.reader) if args.reader else DEFAULT_READER_DIR
    reader, reader_meta = load_reader(reader_dir)
    decoder = DecoderText(env.default_model_dir())
    out = Path(args.out or (FUSION_DIR if args.stage == 2 else FUSION_DIR / "stage1"))
    if args.evaluate_only:
        fusion, meta = _saved(decoder, out)
    else:
        fusion, meta = _trained(args, decoder, reader, train, started)
        meta = {"reader": reader_meta["version"]} | meta
        meta["held_out"] = {"dev": len(dev), "test_style_shifted": len(test), "balanced": True}
    majority = majority_answers(train)
    meta["metrics"] = {
        "dev": evaluate_fusion(fusion, decoder, reader, dev, majority),
        "test_style_shifted": evaluate_fusion(fusion, decoder, reader, test, majority),
    }
    if args.evaluate_only:
        (out / "chart_fusion.json").write_text(json.dumps(meta, indent=2) + "\n")
        say(f"rewrote the metrics in {out / 'chart_fusion.json'}")
    else:
        lora = decoder.peft
        adapter = None if lora is None else (lambda folder: save_adapter(lora, folder))
        version = save_fusion(fusion, out, meta, adapter)
        say(f"wrote chart fusion {version} to {out}" + f" (LoRA in {ADAPTER_DIR}/)" * bool(lora))
        if keep_own_reader(out, reader_dir, DEFAULT_READER_DIR):
            say(f"kept a copy of chart reader {reader_meta['version']} in {out}/reader")
    print(json.dumps(meta["metrics"], indent=2))
    return 0


def _saved(decoder: Any, out: Path) -> tuple[Any, dict[str, Any]]:
    """The fusion (and its LoRA, for stage 2) saved in `out`, to measure again."""
    from ponder.multimodal.chart_fusion import ADAPTER_DIR, load_fusion

    fusion, meta = load_fusion(int(decoder.embeddings.shape[1]), out)
    if meta["adapter"]:
        decoder.load_lora(out / ADAPTER_DIR)
    say(f"measuring chart fusion {meta['version']} from {out}")
    return fusion, meta


def _trained(
    args: argparse.Namespace, decoder: Any, reader: Any, train: list[Any], started: float
) -> tuple[Any, dict[str, Any]]:
    """Stage 1: a fresh fusion, the decoder frozen. Stage 2: the stage-1 fusion in
    --init, trained on with a fresh LoRA on the decoder."""
    import torch

    from ponder.multimodal.chart_fusion import ChartFusion, load_fusion
    from ponder.multimodal.chart_fusion_training import chart_inputs, train_fusion

    width = int(decoder.embeddings.shape[1])
    meta: dict[str, Any] = {"command": "ponder " + shlex.join(sys.argv[1:]), "stage": args.stage}
    if args.stage == 2:
        init = Path(args.init or FUSION_DIR / "stage1")
        fusion, init_meta = load_fusion(width, init)
        if init_meta["adapter"]:
            raise SystemExit(f"--init {init}: a stage-2 fusion; stage 2 starts from stage 1")
        decoder.add_lora(args.lora_rank, args.seed)
        meta["stage1"] = init_meta["version"]
        what = (
            f"from stage 1 ({init_meta['version']}), the fusion (learning rate {args.lr}) "
            f"and a rank-{args.lora_rank} LoRA on every attention and MLP projection of the "
            f"decoder (learning rate {args.lora_lr}); chart reader frozen"
        )
    else:
        fusion = ChartFusion(width, seed=args.seed, question_queries=args.question_queries)
        what = f"learning rate {args.lr}; chart reader and decoder frozen"
    inputs = chart_inputs(reader, train)
    say(f"read {len(train)} training charts ({time.monotonic() - started:.0f} s)")
    losses = train_fusion(
        fusion, decoder, train, inputs, args.epochs, args.batch_size, args.lr, args.seed, say,
        lora_learning_rate=args.lora_lr,
    )  # fmt: skip
    meta["trained_on"] = (
        f"{len(train)} rendered bar and line charts' questions (split train, seed "
        f"{args.seed}), {args.epochs} epochs of {args.batch_size}; {what}"
    )
    meta |= {
        "losses": [round(x, 4) for x in losses],
        "seconds": round(time.monotonic() - started),
        "threads": torch.get_num_threads(),
    }
    return fusion, meta


def add_parser(jobs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = jobs.add_parser(
        "chart-fusion",
        help="fit the decoder-side fusion over the chart reader (stage 1: decoder frozen; "
        "stage 2: with a LoRA on the decoder)",
    )
    parser.add_argument("--train", type=int, default=5000, help="training charts")
    parser.add_argument("--dev", type=int, default=90, help="held-out charts, seen styles")
    parser.add_argument("--test", type=int, default=90, help="held-out charts, shifted styles")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=16, dest="batch_size")
    parser.add_argument("--lr", type=float, default=3e-3, help="the fusion's learning rate")
    parser.add_argument(
        "--stage",
        type=int,
        choices=(1, 2),
        default=1,
        help="1: alignment, decoder frozen (writes chart_fusion_weights/stage1/); 2: from "
        "stage 1, the fusion and a LoRA on the decoder (writes chart_fusion_weights/, "
        "what Analyze serves)",
    )
    parser.add_argument("--init", default="", help="stage 2: the stage-1 fusion folder")
    parser.add_argument("--lora-rank", type=int, default=8, dest="lora_rank")
    parser.add_argument("--lora-lr", type=float, default=5e-4, dest="lora_lr")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reader", default="", help="chart reader folder (default: packaged)")
    parser.add_argument(
        "--out", default="", help="where the fusion is written (default: by --stage)"
    )
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
