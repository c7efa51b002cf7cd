"""One gloo device per process (`ponder.engine.gloo_device`): every gloo group shares one
TCP loop thread, and collectives across ranks still work. Each check runs in fresh
processes, since the patch and torch.distributed's state are process-wide."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap

WORKER = textwrap.dedent(
    """
    import os, sys
    import torch, torch.distributed as dist
    from ponder.engine.gloo_device import share_gloo_device
    rank, world, port, share = (int(a) for a in sys.argv[1:5])
    if share:
        share_gloo_device()
        share_gloo_device()  # idempotent
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", world_size=world, rank=rank
    )
    groups = [dist.new_group(list(range(world)), backend="gloo") for _ in range(6)]
    for group in groups:
        t = torch.full((4,), float(rank + 1))
        dist.all_reduce(t, group=group)
        assert t.tolist() == [world * (world + 1) / 2] * 4, t
        dist.barrier(group=group)
    assert isinstance(groups[0], dist.ProcessGroup)
    loops = sum(
        open(f"/proc/self/task/{task}/comm").read().strip() == "gloo_tcp_loop"
        for task in os.listdir("/proc/self/task")
    )
    if share:  # a caller passing its own options (4th argument) is built with them
        from torch.distributed import distributed_c10d
        options = dist.ProcessGroupGloo._Options()
        options._devices = [dist.ProcessGroupGloo.create_default_device()]
        own = distributed_c10d.ProcessGroupGloo(dist.HashStore(), 0, 1, options)
        assert len(own.options._devices) == 1
    print(loops)
    dist.destroy_process_group()
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _loop_threads(world: int, share: bool) -> list[int]:
    port = _free_port()
    ranks = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(rank), str(world), str(port), str(int(share))],
            stdout=subprocess.PIPE,
            text=True,
        )
        for rank in range(world)
    ]
    out = [rank.communicate(timeout=120)[0] for rank in ranks]
    assert all(rank.returncode == 0 for rank in ranks), out
    return [int(o.strip().splitlines()[-1]) for o in out]


def test_every_gloo_group_of_a_process_shares_one_loop_thread() -> None:
    # the default group and six more: one loop each as torch builds them, one in all shared
    assert _loop_threads(1, share=False) == [7]
    assert _loop_threads(1, share=True) == [1]


def test_collectives_across_ranks_work_on_the_shared_device() -> None:
    assert _loop_threads(2, share=True) == [1, 1]
