"""Cluster-level autoscaling on one machine: Ray's autoscaler with its fake multi-node
provider (worker "nodes" are extra raylets on this machine advertising resources), shaped
like k8s/base/rayservice.yaml: a head with no CPUs for replicas, a `cpu` node type with
the ponder_cpu_node resource and a `gpu` node type advertising GPU: 1.

A Decoder deployment (the real one, vLLM on CPU here) asks for num_gpus=1 per replica;
there is no GPU node at first, so the replica is pending until the autoscaler launches a
`gpu` node; scaling the deployment to 2 replicas launches a second node; deleting the
application lets both go after the idle timeout.

The decoder's engine runs with ENGINE_OVERRIDES on top of config/serve-local.yaml (eager
mode and a 2 048-token context: no graph compilation, so the replica start measured is
the autoscaler's and Serve's part plus a plain engine load); both are printed and written
with the events, so the figures say what ran.

Run:  .venv/bin/python bench/cluster_autoscale.py
Written to bench/results/cluster_autoscale.json.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from deployments.ray_options import serve_options, use_ray_environment

ROOT = Path(__file__).resolve().parents[1]
APP = "gpu-autoscale"
ENGINE_OVERRIDES = {"enforce_eager": True, "max_model_len": 2048}


def _say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def _local_fake_cluster() -> Any:
    """Ray's AutoscalingCluster on the fake multi-node provider (nodes are local raylets):
    one CPU worker node, up to two simulated GPU nodes that go after 15 s idle."""
    from ray.cluster_utils import AutoscalingCluster

    class LocalFakeCluster(AutoscalingCluster):
        """AutoscalingCluster with its base config written here (the wheel lacks the
        example YAML it reads): Ray's fake multi-node provider, nodes = local raylets."""

        def _generate_config(
            self, head_resources: Any, worker_node_types: Any, **kwargs: Any
        ) -> Any:
            kwargs.pop("autoscaler_v2", None)
            return {
                "cluster_name": "ponder-fake",
                "max_workers": 8,
                "provider": {
                    "type": "fake_multinode",
                    "use_node_id_as_ip": True,
                    "disable_node_updaters": True,
                    "disable_launch_config_check": True,
                },
                "available_node_types": worker_node_types
                | {
                    "ray.head.default": {
                        "resources": head_resources,
                        "node_config": {},
                        "max_workers": 0,
                    }
                },
                "head_node_type": "ray.head.default",
                "upscaling_speed": 1.0,
                "idle_timeout_minutes": 0.25,
                "docker": {},
                "auth": {"ssh_user": "ubuntu"},
                "file_mounts": {},
                "cluster_synced_files": [],
                "file_mounts_sync_continuously": False,
                "initialization_commands": [],
                "setup_commands": [],
                "head_setup_commands": [],
                "worker_setup_commands": [],
                "head_start_ray_commands": [],
                "worker_start_ray_commands": [],
            } | kwargs

    return LocalFakeCluster(
        head_resources={"CPU": 0},
        worker_node_types={
            "cpu": {
                "resources": {"CPU": 1, "ponder_cpu_node": 100},
                "node_config": {},
                "min_workers": 1,
                "max_workers": 1,
            },
            "gpu": {
                "resources": {"CPU": 1, "GPU": 1},
                "node_config": {},
                "min_workers": 0,
                "max_workers": 2,
            },
        },
        idle_timeout_minutes=0.25,
    )


def main() -> int:
    import ray
    from ray import serve

    from deployments.decoder import Decoder
    from deployments.serve_config import load_serve_config
    from ponder.config import DeploymentConfig
    from ponder.engine.vllm_engine import VLLMEngineFactory

    use_ray_environment()
    # `ray start` / `ray stop` of the cluster helper must be this venv's.
    os.environ["PATH"] = f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"
    engine = load_serve_config(ROOT / "config" / "serve-local.yaml").apps["ponder"].decoder.engine
    engine = engine.model_copy(update=ENGINE_OVERRIDES)
    _say(f"decoder engine: config/serve-local.yaml with {ENGINE_OVERRIDES}")

    cluster = _local_fake_cluster()
    cluster.start()
    events: list[dict[str, Any]] = []
    started = time.monotonic()

    def gpu_nodes() -> int:
        return sum(1 for n in ray.nodes() if n["Alive"] and n["Resources"].get("GPU", 0) > 0)

    def note(what: str) -> None:
        events.append(
            {"t_s": round(time.monotonic() - started, 1), "event": what, "gpu_nodes": gpu_nodes()}
        )
        _say(f"{events[-1]['t_s']:>6} s  {what}  (gpu nodes: {events[-1]['gpu_nodes']})")

    def running() -> int:
        app = serve.status().applications.get(APP)
        if app is None or "Decoder" not in app.deployments:
            return 0
        return int(app.deployments["Decoder"].replica_states.get("RUNNING", 0))

    def wait(condition: Any, timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError(what)
            time.sleep(1.0)
        note(what)

    try:
        ray.init(address="auto", namespace="ponder")
        serve.start(proxy_location="Disabled")
        note("cluster up")

        def deploy(replicas: int) -> None:
            options = DeploymentConfig(num_replicas=replicas, num_cpus=0.1, num_gpus=1)
            app = Decoder.options(**serve_options(options)).bind(  # type: ignore[attr-defined]
                VLLMEngineFactory(engine)
            )
            serve._run(app, name=APP, route_prefix=f"/{APP}", _blocking=False)

        deploy(1)
        note("Decoder deployed with num_gpus=1, 1 replica (no GPU node yet)")
        wait(lambda: gpu_nodes() >= 1, 300, "autoscaler launched a gpu node")
        wait(lambda: running() >= 1, 600, "decoder replica 1 RUNNING on it")
        deploy(2)
        note("scaled to 2 replicas")
        wait(lambda: gpu_nodes() >= 2, 300, "autoscaler launched a second gpu node")
        wait(lambda: running() >= 2, 600, "decoder replica 2 RUNNING")
        serve.delete(APP)
        note("application deleted")
        wait(lambda: gpu_nodes() == 0, 600, "idle gpu nodes terminated")
    finally:
        try:
            serve.shutdown()
            ray.shutdown()
        finally:
            cluster.shutdown()
    out = ROOT / "bench" / "results" / "cluster_autoscale.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    result = {"engine_overrides": ENGINE_OVERRIDES, "events": events}
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(events, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
