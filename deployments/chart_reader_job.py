"""`ponder train chart-reader`: train the image trunk from scratch to read rendered charts
(`ponder.multimodal.chart_reader`), then measure it on a balanced dev set in the styles it
was trained on and a balanced test set in styles it never saw. The weights and their
metrics are written together (the packaged ones: platform/ponder/multimodal/
chart_reader_weights/).
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

# the packaged reader (ponder.multimodal.chart_reader.DEFAULT_READER_DIR; not imported
# here, so that `ponder --help` does not load torch)
READER_META = "reader.json"  # ponder.multimodal.chart_reader.READER_META
READER_DIR = env.REPO_ROOT / "platform" / "ponder" / "multimodal" / "chart_reader_weights"

KINDS = ("bar", "line")


def cmd_train_chart_reader(args: argparse.Namespace) -> int:
    """Train the reader (or, with --evaluate-only, load the one in --out) and measure it on
    the balanced dev and style-shifted test sets; the metrics go beside the weights."""
    import torch

    from ponder.multimodal.chart_evaluation import evaluate_reader, majority_answers
    from ponder.multimodal.chart_reader import (
        ChartReader,
        ReadingTargets,
        load_reader,
        raw_pixels,
        save_reader,
        train_reader,
    )
    from ponder.multimodal.chart_tasks import make_splits

    logging.basicConfig(level=logging.WARNING)
    torch.manual_seed(args.seed)
    started = time.monotonic()
    extra_fonts = extra_font_files(args.train_extra_fonts)
    train, dev, test = make_splits(
        args.train,
        args.dev,
        args.test,
        args.seed,
        KINDS,
        tuple(args.train_font_sizes),
        extra_fonts,
    )
    say(f"rendered {len(train)} training, {len(dev)} dev and {len(test)} style-shifted charts")
    out = Path(args.out)
    if args.evaluate_only:
        reader, meta = load_reader(out)
        say(f"measuring chart reader {meta['version']} from {out}")
    else:
        raw = torch.cat([raw_pixels(train[i : i + 512]) for i in range(0, len(train), 512)])
        reader = ChartReader(args.trunk, seed=args.seed)
        targets = ReadingTargets.of(train)
        losses = train_reader(
            reader, raw, targets, args.epochs, args.batch_size, args.lr, args.seed, say
        )
        del raw
        meta = {
            "command": "ponder " + shlex.join(sys.argv[1:]),
            "trained_on": f"{len(train)} rendered bar and line charts (split train, seed "
            f"{args.seed}), {args.epochs} epochs of {args.batch_size}, learning rate {args.lr}",
            "held_out": {"dev": len(dev), "test_style_shifted": len(test), "balanced": True},
            "losses": [round(x, 4) for x in losses],
            "seconds": round(time.monotonic() - started),
            "threads": torch.get_num_threads(),
        }
    majority = majority_answers(train)
    meta["metrics"] = {
        "dev": evaluate_reader(reader, dev, majority, args.min_confidence),
        "test_style_shifted": evaluate_reader(reader, test, majority, args.min_confidence),
    }
    if args.evaluate_only:
        (out / READER_META).write_text(json.dumps(meta, indent=2) + "\n")
        say(f"rewrote the metrics in {out / READER_META}")
    else:
        _keep_replaced_reader_for_fusions(out)
        version = save_reader(reader, out, meta)
        say(f"wrote chart reader {version} to {out}")
    print(json.dumps(meta["metrics"], indent=2))
    return 0


def _keep_replaced_reader_for_fusions(out: Path) -> None:
    """Overwriting the packaged reader: the packaged fusions trained over it keep a copy."""
    from ponder.multimodal.chart_fusion import DEFAULT_DIR, keep_replaced_reader

    if out.resolve() != READER_DIR.resolve():
        return
    for fusion in (DEFAULT_DIR, DEFAULT_DIR / "stage1"):
        if keep_replaced_reader(fusion, out):
            say(f"kept the reader it replaces in {fusion}/reader for the fusion trained over it")


def extra_font_files(folder: str | None) -> tuple[str, ...]:
    """The TrueType files in `folder` (sorted, so the draw is the same everywhere), or none
    without a folder. A folder without fonts is an error, not a silent no-op."""
    if not folder:
        return ()
    files = tuple(sorted(str(p) for p in Path(folder).glob("*.ttf")))
    if not files:
        raise SystemExit(f"--train-extra-fonts: no .ttf files in {folder}")
    return files


def add_parser(jobs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = jobs.add_parser(
        "chart-reader", help="train the image trunk from scratch to read rendered charts"
    )
    parser.add_argument(
        "--trunk",
        choices=("resnet-light", "resnet101"),
        default="resnet-light",
        help="resnet-light for CPU development, resnet101 the seed's production trunk",
    )
    parser.add_argument("--train", type=int, default=12_000, help="training charts")
    parser.add_argument("--dev", type=int, default=600, help="held-out charts, seen styles")
    parser.add_argument("--test", type=int, default=600, help="held-out charts, shifted styles")
    parser.add_argument(
        "--train-font-sizes",
        type=lambda text: [int(size) for size in text.split(",") if size],
        default=[],
        dest="train_font_sizes",
        help="comma-separated font sizes (pt) of the training charts, e.g. 6,7,8,10,11,12,14 "
        "(default: the seen family's 8,10,11,12,14); the held-out sets keep theirs",
    )
    parser.add_argument(
        "--train-extra-fonts",
        default=None,
        dest="train_extra_fonts",
        metavar="DIR",
        help="a folder of .ttf fonts (e.g. Debian's fonts-liberation, "
        "/usr/share/fonts/truetype/liberation) half the training charts are written in "
        "instead of the seen family's DejaVu; the held-out sets keep their fonts",
    )
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=32, dest="batch_size")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(READER_DIR), help="where the reader is written")
    parser.add_argument(
        "--min-confidence",
        type=float,
        default=0.5,
        dest="min_confidence",
        help="readings at least this sure count as answered (encoder.chart_reader_min_confidence)",
    )
    parser.add_argument(
        "--evaluate-only",
        action="store_true",
        dest="evaluate_only",
        help="measure the reader in --out again (same sets) and rewrite its metrics",
    )
    parser.set_defaults(func=cmd_train_chart_reader)
