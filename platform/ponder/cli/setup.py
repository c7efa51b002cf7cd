"""`ponder setup-model`: convert the default model once and derive the committed
distilled students from it, each with its int8 copy (offline; finished steps are
skipped)."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from ponder import env


def cmd_setup_model(args: argparse.Namespace) -> int:
    from ponder.base_model_conversion import convert_default_model
    from ponder.int8_checkpoint import derive_int8
    from ponder.student_build import build_student, committed_students, student_dir

    logging.basicConfig(level=logging.INFO, format="[ponder] %(message)s")
    convert_default_model(env.default_model_dir(), force=args.force)
    for name in committed_students():
        # the int8 copy too: a student set with engine.int8_weights loads it, and a
        # read-only model volume (k8s) cannot take it at the replica's start
        derive_int8(build_student(student_dir(name), force=args.force))
    return 0


def register(sub: Any) -> None:
    setup = sub.add_parser(
        "setup-model", help="convert the default model and build the students (offline)"
    )
    setup.add_argument("--force", action="store_true", help="convert again even if done")
    setup.set_defaults(func=cmd_setup_model)
