"""The run record and the clean-up of a crashed run, on real processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from deployments.lifecycle import (
    AnotherRunIsLive,
    OwnedProcess,
    RunRecord,
    clean_leftovers,
    descendants,
    terminate,
    this_process,
)

IGNORES_SIGTERM = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)"
)


def _spawn() -> subprocess.Popen[bytes]:
    process = subprocess.Popen([sys.executable, "-c", IGNORES_SIGTERM])
    time.sleep(0.5)  # let it install its handler
    return process


def _owned(process: subprocess.Popen[bytes]) -> OwnedProcess:
    (owned,) = [p for p in descendants(os.getpid()) if p.pid == process.pid]
    return owned


def test_terminate_ends_a_process_that_ignores_sigterm() -> None:
    process = _spawn()
    owned = _owned(process)
    started = time.monotonic()
    ended = terminate([owned], grace_s=0.5)
    assert [p.pid for p in ended] == [process.pid]
    assert owned.alive() is None
    assert time.monotonic() - started >= 0.5  # SIGTERM was ignored: it took SIGKILL


def test_a_recycled_pid_is_not_taken_for_the_recorded_process() -> None:
    process = _spawn()
    try:
        real = _owned(process)
        impostor = OwnedProcess(real.pid, real.created - 100.0, real.name)
        assert impostor.alive() is None and real.alive() is not None
        assert terminate([impostor], grace_s=0.1) == []
        assert process.poll() is None
    finally:
        process.kill()
        process.wait()


def test_clean_leftovers_ends_only_what_a_dead_run_recorded(tmp_path: Path) -> None:
    leftover, bystander = _spawn(), _spawn()
    try:
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead_created = psutil.Process(dead.pid).create_time()
        dead.wait()
        record = RunRecord(tmp_path / "serve.json", pid=dead.pid, created=dead_created)
        record.processes = (_owned(leftover),)
        record.save()
        said: list[str] = []
        ended = clean_leftovers(record.path, said.append)
        assert [p.pid for p in ended] == [leftover.pid]
        assert ended[0].alive() is None
        assert bystander.poll() is None  # never touched: not in the record
        assert "did not stop cleanly" in said[0] and not record.path.exists()
    finally:
        for process in (leftover, bystander):
            process.kill()
            process.wait()


def test_clean_leftovers_refuses_while_the_recorded_run_lives(tmp_path: Path) -> None:
    owner = _spawn()
    try:
        owned = _owned(owner)
        RunRecord(tmp_path / "serve.json", pid=owned.pid, created=owned.created).save()
        with pytest.raises(AnotherRunIsLive, match=str(owned.pid)):
            clean_leftovers(tmp_path / "serve.json", print)
        assert owner.poll() is None
    finally:
        owner.kill()
        owner.wait()


def test_the_record_round_trips(tmp_path: Path) -> None:
    me = this_process()
    record = RunRecord(tmp_path / "r.json", me.pid, me.created, (9000, 0), (me,))
    record.save()
    assert RunRecord.load(record.path) == record
