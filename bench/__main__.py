"""Run Ponder's benchmarks on the current code and regenerate the tables of BENCHMARKS.md
and RELIABILITY.md.

    .venv/bin/python -m bench                 # every benchmark, full size (hours on 2 cores)
    .venv/bin/python -m bench --quick         # a smoke run of each (smaller loads);
                                              # its results go to bench/results/quick/
    .venv/bin/python -m bench --only decoder,load
    .venv/bin/python -m bench --render        # only re-render tables and plots from bench/results/

Each benchmark runs alone, in its own process, one after the other (they would share the
cores otherwise); each writes JSON under bench/results/, stamped here with the commit,
time, machine and config when the script did not stamp it itself. Then every generated
block of BENCHMARKS.md and RELIABILITY.md is rendered again from those files
(bench/report.py), and the plots beside them are drawn again (bench/plots.py).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.meta import run_meta
from bench.plots import render_plots
from bench.report import DOCUMENTS, regenerate

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
QUICK = RESULTS / "quick"  # git-ignored
CONFIG = ROOT / "config" / "serve-local.yaml"


@dataclass(frozen=True)
class Benchmark:
    script: str  # under bench/, or a command after `python` (e.g. "-m ponder.cli ...")
    results: tuple[str, ...]
    full: tuple[str, ...] = ()
    quick: tuple[str, ...] = ()


BENCHMARKS = {
    "decoder": Benchmark(
        "decoder.py",
        ("decoder.json",),
        ("--variants", "raw,proxy,direct,throughput,nice0"),
        ("--quick",),
    ),
    "first_token": Benchmark("first_token.py", ("first_token.json",), quick=("--requests", "3")),
    "http_vs_grpc": Benchmark(
        "http_vs_grpc.py", ("http_vs_grpc.json",), ("--rounds", "2"), ("--rounds", "1")
    ),
    "http_body": Benchmark("http_body.py", ("http_body.json",), quick=("--calls", "2")),
    "load": Benchmark("load.py", ("load.json",), quick=("--quick",)),
    "fairness": Benchmark(
        "load.py", ("fairness.json",), ("--fairness",), ("--fairness", "--quick")
    ),
    "burst": Benchmark("burst.py", ("burst.json",), quick=("--quick",)),
    "prefix_routing": Benchmark("prefix_routing.py", ("prefix_routing.json",), quick=("--quick",)),
    # one result per kind of CPU (int8.py picks the file): AMX/VNNI, or AVX2 only
    "int8": Benchmark("int8.py", ("int8.json", "int8-avx2.json"), quick=("--rounds", "1")),
    "engine_metrics": Benchmark(
        "engine_metrics.py", ("engine_metrics.json",), quick=("--rounds", "1")
    ),
    "reason": Benchmark("reason.py", ("reason.json",), quick=("--problems", "2", "--rounds", "2")),
    "pruning": Benchmark("pruning.py", ("pruning.json",), quick=("--problems", "8")),
    "robustness": Benchmark("robustness.py", ("robustness.json",), quick=("--limit", "8")),
    "student": Benchmark(
        "student.py",
        # speed and Reason as served: one result per kind of CPU (student.py picks the file)
        (
            "student.json",
            "student-avx2.json",
            "student_accuracy.json",
            "student_served.json",
            "student_served-avx2.json",
        ),
        ("--rounds", "2", "--accuracy-limit", "278", "--served-limit", "300"),
        ("--rounds", "1", "--accuracy-limit", "10", "--base-limit", "10", "--served-limit", "10"),
    ),
    "encoder": Benchmark(
        "encoder.py", ("encoder.json",), quick=("--images", "16", "--callers", "8", "--rounds", "2")
    ),
    "learning": Benchmark(
        "learning.py",
        ("learning.json",),
        quick=(
            "--stream",
            "40",
            "--checkpoints",
            "20,40",
            "--held-out",
            "10",
            "--throughput-outcomes",
            "100",
        ),
    ),
    "ranker_refit": Benchmark("ranker_refit.py", ("ranker_refit.json",)),
    "refresh": Benchmark(
        "refresh.py", ("refresh.json",), quick=("--limit", "60", "--held-out-limit", "20")
    ),
    "tracing": Benchmark("tracing.py", ("tracing.json",), quick=("--requests", "16")),
    "prompt_embeds": Benchmark(
        "prompt_embeds.py", ("prompt_embeds.json",), quick=("--requests", "16")
    ),
    "cluster_autoscale": Benchmark("cluster_autoscale.py", ("cluster_autoscale.json",)),
    "autoscaling": Benchmark("autoscaling.py", ("autoscaling.json",)),
    "table_reader": Benchmark(
        "table_reader.py", ("table_reader.json",), quick=("--quick", "--seeds", "0")
    ),
    "chart_views": Benchmark(
        "chart_views.py", ("chart_views.json",), quick=("--train", "200", "--held-out", "24")
    ),
    "fusion": Benchmark(
        "-m ponder.cli train fusion --evaluate-only --report bench/results/fusion.json",
        ("fusion.json",),
    ),
}


def run(name: str, quick: bool) -> None:
    bench = BENCHMARKS[name]
    if bench.script.startswith("-m "):
        command = [sys.executable, *bench.script.split()]
    else:
        command = [sys.executable, str(ROOT / "bench" / bench.script)]
    command += list(bench.quick if quick else bench.full)
    print(f"[bench] {name}: {' '.join(command[1:])}", file=sys.stderr, flush=True)
    started = time.monotonic()
    subprocess.run(command, cwd=ROOT, check=True)
    for result in bench.results:
        path = RESULTS / result
        data = json.loads(path.read_text())
        if isinstance(data, dict) and "meta" not in data:
            data["meta"] = run_meta(CONFIG)
            path.write_text(json.dumps(data, indent=2) + "\n")
    minutes = (time.monotonic() - started) / 60
    print(f"[bench] {name} done in {minutes:.1f} min", file=sys.stderr, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smaller loads: a smoke run")
    parser.add_argument("--only", default="", help="comma-separated: " + ", ".join(BENCHMARKS))
    parser.add_argument(
        "--render", action="store_true", help="only re-render the documents' generated tables"
    )
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n] or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmarks: {', '.join(unknown)}")
    if args.quick:  # smoke figures never replace the committed ones or reach the document
        kept = {path.name: path.read_bytes() for path in RESULTS.glob("*.json")}
        try:
            for name in names:
                run(name, args.quick)
        finally:
            QUICK.mkdir(parents=True, exist_ok=True)
            for path in RESULTS.glob("*.json"):
                if path.read_bytes() != kept.get(path.name):
                    (QUICK / path.name).write_bytes(path.read_bytes())
                    if path.name in kept:
                        path.write_bytes(kept[path.name])
                    else:
                        path.unlink()
        print(f"[bench] quick results in {QUICK.relative_to(ROOT)}/", file=sys.stderr)
        return 0
    if not args.render:
        for name in names:
            run(name, quick=False)
    for name in DOCUMENTS:
        document = ROOT / name
        document.write_text(regenerate(document.read_text()))
        print(f"[bench] {name} regenerated from its sources", file=sys.stderr)
    for png in render_plots():
        print(f"[bench] plot {png.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
