"""Start and stop the local platform: a Ray cluster of its own, Serve's proxies, the app.

Used by `ponder serve`, the integration tests and the benchmark, so all three run the
platform the same way.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import ray
from ray import serve
from ray.serve.config import gRPCOptions

from deployments.app import build_app
from deployments.ray_options import ray_environment
from deployments.serve_config import PonderServeConfig
from ponder import env
from ponder.api.client import PonderClient
from ponder.config import PonderConfig
from ponder.engine.protocol import EngineFactory
from ponder.redis_server import LocalRedis, free_port

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


@dataclass
class LocalPlatform:
    """The Ponder Serve application on a local Ray cluster that this object owns."""

    config: PonderServeConfig
    grpc_port: int | None = None
    engine_factory: EngineFactory | None = None
    num_cpus: int | None = None
    log_to_driver: bool = True
    redis_data_dir: Path | None = None  # of a locally started Redis; default under .state/
    metrics_port: int = field(default=0, init=False)  # Prometheus endpoint of the node
    _started: bool = field(default=False, init=False)
    _redis: list[LocalRedis] = field(default_factory=list, init=False)

    @property
    def port(self) -> int:
        return self.grpc_port or self.config.schema.grpc_options.port

    @property
    def redis_servers(self) -> list[LocalRedis]:
        """The loopback redis-servers this platform started."""
        return list(self._redis)

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, progress: Progress = print, timeout_s: float = 900) -> None:
        """Start Ray, Serve and every application; return once health is SERVING."""
        started = time.monotonic()
        os.environ.update(ray_environment())
        temp_dir = env.ray_temp_dir()
        temp_dir.mkdir(parents=True, exist_ok=True)
        telemetry = next(iter(self.config.apps.values())).telemetry  # cluster-wide settings
        tracing = telemetry.tracing
        for name in env.TRACING_VARIABLES:  # nothing left over from an earlier start
            os.environ.pop(name, None)
        os.environ.update(
            env.tracing_environment(
                tracing.exporter, tracing.sampling_ratio, tracing.file_dir, tracing.otlp_endpoint
            )
        )
        self.metrics_port = telemetry.metrics_export_port or free_port()
        progress(
            f"starting a local Ray cluster (temp dir {temp_dir}; tracing {tracing.exporter}; "
            f"metrics on http://127.0.0.1:{self.metrics_port}/metrics)"
        )
        ray.init(
            address="local",
            include_dashboard=False,
            num_cpus=self.num_cpus,
            namespace="ponder",
            _temp_dir=str(temp_dir),
            _metrics_export_port=self.metrics_port,
            log_to_driver=self.log_to_driver,
        )
        self._started = True
        schema = self.config.schema
        grpc_options = gRPCOptions(
            port=self.port,
            grpc_servicer_functions=schema.grpc_options.grpc_servicer_functions,
            request_timeout_s=schema.grpc_options.request_timeout_s,
            enable_reflection=schema.grpc_options.enable_reflection,
        )
        serve.start(
            proxy_location=schema.proxy_location,
            http_options=schema.http_options.model_dump(exclude_unset=True),
            grpc_options=grpc_options,
        )
        progress(f"Serve started; gRPC on {self.target}; deploying (engine warm-up takes a while)")
        done = threading.Event()
        watcher = threading.Thread(
            target=_report_deploy_progress, args=(done, progress, started), daemon=True
        )
        watcher.start()
        try:
            for app_schema in schema.applications:
                app_config = self.config.apps.get(app_schema.name)
                if app_config is None:
                    continue
                app_config = self._with_local_redis(app_config, progress)
                app = build_app(app_config, self.engine_factory)
                serve.run(
                    app,
                    name=app_schema.name,
                    route_prefix=app_schema.route_prefix,
                    logging_config=app_schema.logging_config,
                )
        finally:
            done.set()
            watcher.join()
        with PonderClient(self.target) as client:
            client.wait_until_serving(timeout=max(10.0, timeout_s - (time.monotonic() - started)))
        progress(f"ready: health SERVING on {self.target} after {time.monotonic() - started:.0f} s")

    def _with_local_redis(self, config: PonderConfig, progress: Progress) -> PonderConfig:
        """Start a loopback redis-server when no Redis URL is configured; record its URL
        for `ponder scorer` commands."""
        if config.redis.url or not config.redis.start_local:
            return config
        redis = LocalRedis(data_dir=self.redis_data_dir, appendfsync=config.redis.appendfsync)
        redis.start()
        self._redis.append(redis)
        env.local_redis_url_file().parent.mkdir(parents=True, exist_ok=True)
        env.local_redis_url_file().write_text(redis.url + "\n")
        progress(
            f"started redis-server on {redis.url} (AOF, fsync {config.redis.appendfsync}): "
            "score cache, outcome log, scorer versions"
        )
        return config.model_copy(
            update={"redis": config.redis.model_copy(update={"url": redis.url})}
        )

    def stop(self) -> None:
        """Shut down Serve, the Ray cluster (replicas stop their engines) and local Redis."""
        try:
            if self._started:
                try:
                    serve.shutdown()
                finally:
                    ray.shutdown()
                    self._started = False
        finally:
            for redis in self._redis:
                redis.stop()
            self._redis.clear()


def _report_deploy_progress(done: threading.Event, progress: Progress, started: float) -> None:
    """Print deployment states every few seconds until deployment finishes."""
    while not done.wait(10.0):
        try:
            states = [
                f"{name}={dep.status.value}"
                for app in serve.status().applications.values()
                for name, dep in app.deployments.items()
            ]
        except Exception as error:  # status is best effort while starting
            states = [f"status unavailable ({type(error).__name__})"]
        progress(f"  ... {time.monotonic() - started:.0f} s: {', '.join(states) or 'starting'}")
