"""One gloo device per process for every torch.distributed gloo group.

torch gives each gloo process group its own device, and each device runs a TCP event
loop thread that polls every 10 ms, whether or not anything is sent. vLLM's CPU worker
creates 13 such groups even for one engine on one process (a device group and a CPU group
per parallel dimension), so an idle engine wakes about 1 300 times a second: on a small
machine those wakeups preempt the busy engine's OpenMP threads and delay its steps.

`share_gloo_device` makes every gloo group the process creates afterwards use one device
(the same interfaces torch would pick: GLOO_SOCKET_IFNAME's, or the default), so the
process has one loop thread (about 100 wakeups a second). Gloo lets contexts share a
device; collectives across ranks work as before. Applied by Ponder's vLLM plugin
(`vllm_cpu_fixes.register`) when `engine.cpu_shared_gloo_device` is on.
"""

from __future__ import annotations

import datetime
import logging
import os
from typing import Any

log = logging.getLogger(__name__)

_PATCHED = "_ponder_shared_gloo_device"


def _devices(gloo: Any) -> list[Any]:
    """The devices torch's own constructor would create for a new group."""
    interfaces = [i for i in os.environ.get("GLOO_SOCKET_IFNAME", "").split(",") if i]
    if interfaces:
        return [gloo.create_device(interface=name) for name in interfaces]
    return [gloo.create_default_device()]


def share_gloo_device() -> None:
    """From now on, every gloo process group of this process shares one set of devices.
    Idempotent."""
    import torch.distributed as dist

    if not dist.is_available() or not dist.is_gloo_available():
        return
    from torch.distributed import distributed_c10d

    original: Any = distributed_c10d.ProcessGroupGloo
    if getattr(original, _PATCHED, False):
        return
    shared: list[Any] = []

    class SharedDeviceGloo(original):
        """torch's ProcessGroupGloo, built on the process's one set of gloo devices."""

        def __init__(
            self,
            store: Any,
            rank: int,
            size: int,
            timeout: Any = datetime.timedelta(seconds=1800),
        ) -> None:
            if isinstance(timeout, original._Options):  # a caller's own options: as given
                super().__init__(store, rank, size, timeout)
                return
            if not shared:
                shared.extend(_devices(original))
            options = original._Options()
            options._devices = list(shared)
            options._timeout = timeout
            super().__init__(store, rank, size, options)

    setattr(SharedDeviceGloo, _PATCHED, True)
    setattr(distributed_c10d, "ProcessGroupGloo", SharedDeviceGloo)  # noqa: B010
    log.debug("gloo process groups share one device in process %d", os.getpid())
