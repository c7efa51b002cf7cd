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
from deployments.lifecycle import OwnedProcess, descendants, terminate
from deployments.ray_options import local_cpus, use_ray_environment
from deployments.serve_config import PonderServeConfig
from ponder import env
from ponder.api.client import PonderClient
from ponder.config import PonderConfig
from ponder.engine.protocol import EngineFactory
from ponder.redis_server import LocalRedis, free_port
from ponder.security.local_credentials import ensure_local_api_token, private_run_dir, write_secret

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


# How long the proxies get, after the last call in flight left the Ingress, to deliver it.
RESPONSE_FLUSH_S = 1.0


@dataclass
class LocalPlatform:
    """The Ponder Serve application on a local Ray cluster that this object owns."""

    config: PonderServeConfig
    grpc_port: int | None = None
    engine_factory: EngineFactory | None = None
    num_cpus: int | None = None
    log_to_driver: bool = True
    redis_data_dir: Path | None = None  # of a locally started Redis; default under .state/
    # Called once Ray is up (ray.init installs its own SIGTERM handler; a caller that
    # handles signals itself re-installs its handlers here).
    on_ray_started: Callable[[], None] | None = None
    # Called with every process the run owns, whenever that set grows (the run record).
    on_processes: Callable[[list[OwnedProcess]], None] | None = None
    metrics_port: int = field(default=0, init=False)  # Prometheus endpoint of the node
    # The bearer token of the local tenant (created at the first start); "" when auth is
    # off or the token file was not created by a local start.
    api_token: str = field(default="", init=False)
    _started: bool = field(default=False, init=False)
    _redis: list[LocalRedis] = field(default_factory=list, init=False)
    _owned: dict[tuple[int, float], OwnedProcess] = field(default_factory=dict, init=False)
    _tracking: threading.Event = field(default_factory=threading.Event, init=False)

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

    @property
    def http_url(self) -> str:
        """Base URL of the first application's HTTP API (Serve's HTTP proxy + its route)."""
        http = self.config.schema.http_options
        route = self.config.schema.applications[0].route_prefix or ""
        return f"http://127.0.0.1:{http.port}{route.rstrip('/')}"

    def start(self, progress: Progress = print, timeout_s: float = 900) -> None:
        """Start Ray, Serve and every application; return once health is SERVING."""
        started = time.monotonic()
        env.drain_file().unlink(missing_ok=True)  # a stale one would keep health NOT_SERVING
        use_ray_environment()
        temp_dir = private_run_dir(env.ray_temp_dir())
        telemetry = next(iter(self.config.apps.values())).telemetry  # cluster-wide settings
        tracing = telemetry.tracing
        for name in env.TRACING_VARIABLES:  # nothing left over from an earlier start
            os.environ.pop(name, None)
        os.environ.update(
            env.tracing_environment(
                tracing.exporter, tracing.sampling_ratio, tracing.file_dir, tracing.otlp_endpoint
            )
        )
        largest = max(app.ingress.max_message_bytes for app in self.config.apps.values())
        os.environ.update(env.grpc_message_environment(largest))
        self.metrics_port = telemetry.metrics_export_port or free_port()
        progress(
            f"starting a local Ray cluster (temp dir {temp_dir}; tracing {tracing.exporter}; "
            f"metrics on http://127.0.0.1:{self.metrics_port}/metrics)"
        )
        ray.init(
            address="local",
            include_dashboard=False,
            num_cpus=self.num_cpus or local_cpus(self.config.apps.values()),
            namespace="ponder",
            _temp_dir=str(temp_dir),
            _metrics_export_port=self.metrics_port,
            log_to_driver=self.log_to_driver,
        )
        self._started = True
        if self.on_ray_started is not None:
            self.on_ray_started()
        self._track_processes()
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
                self._ensure_api_token(app_config, progress)
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
        with self.client() as client:
            client.wait_until_serving(timeout=max(10.0, timeout_s - (time.monotonic() - started)))
        progress(
            f"ready: health SERVING on {self.target} (gRPC) and {self.http_url}/v1 (HTTP) "
            f"after {time.monotonic() - started:.0f} s"
        )

    def client(self, token: str | None = None, application: str | None = None) -> PonderClient:
        """A client of this platform, sending the local token unless given another."""
        return PonderClient(
            self.target, application=application, token=self.api_token if token is None else token
        )

    def _ensure_api_token(self, config: PonderConfig, progress: Progress) -> None:
        """Create the token file with a token for tenant 'local' at the first start."""
        if not config.auth.enabled or not config.auth.create_local_token:
            return
        path = config.auth.token_path()
        token, created = ensure_local_api_token(path, config.auth.default_rate_limit)
        if created:
            progress(
                f"created API token file {path} with a token for tenant 'local'; its value "
                f"is in {env.client_token_file(path)} (mode 0600), where the CLI finds it"
            )
        self.api_token = self.api_token or token

    def _with_local_redis(self, config: PonderConfig, progress: Progress) -> PonderConfig:
        """Start a loopback redis-server when no Redis URL is configured; record its URL
        for `ponder scorer` commands."""
        if config.redis.url or not config.redis.start_local:
            return config
        redis = LocalRedis(data_dir=self.redis_data_dir, appendfsync=config.redis.appendfsync)
        redis.start()
        self._redis.append(redis)
        write_secret(env.local_redis_url_file(), redis.url)  # carries the password
        progress(
            f"started redis-server on {redis.safe_url} (password, AOF, fsync "
            f"{config.redis.appendfsync}, {redis.maxmemory_mb} MB noeviction): score cache, "
            "outcome log, scorer versions"
        )
        return config.model_copy(
            update={"redis": config.redis.model_copy(update={"url": redis.url})}
        )

    @property
    def ports(self) -> list[int]:
        """The loopback ports this run listens on (gRPC, metrics, Redis)."""
        return [self.port, self.metrics_port, *(r.port for r in self._redis)]

    def _snapshot(self) -> bool:
        grew = False
        for process in descendants(os.getpid()):
            key = (process.pid, process.created)
            if key not in self._owned:
                self._owned[key] = process
                grew = True
        return grew

    def _track_processes(self) -> None:
        """Watch the process tree while the run lives (replicas start workers later)."""

        def watch() -> None:
            while not self._tracking.wait(2.0):
                if self._snapshot() and self.on_processes is not None:
                    self.on_processes(list(self._owned.values()))

        self._snapshot()
        if self.on_processes is not None:
            self.on_processes(list(self._owned.values()))
        threading.Thread(target=watch, name="ponder-process-tracker", daemon=True).start()

    def drain(self, grace_s: float, progress: Progress = print) -> int:
        """Health goes NOT_SERVING and new calls are refused; wait up to grace_s for the
        calls in flight. Returns how many were still running at the end."""
        if not self._started:
            return 0
        handles = [
            serve.get_deployment_handle("Ingress", app_name=name) for name in self.config.apps
        ]
        left = sum(int(h.drain.remote().result(timeout_s=10)) for h in handles)
        progress(f"draining: health NOT_SERVING, {left} call(s) in flight, up to {grace_s:g} s")
        deadline = time.monotonic() + grace_s
        while left and time.monotonic() < deadline:
            time.sleep(0.2)
            left = sum(int(h.in_flight.remote().result(timeout_s=10)) for h in handles)
        if left:
            progress(f"grace period over: cancelling {left} call(s) (their generations abort)")
        else:
            # A call leaves the Ingress's count when its handler returns; its answer still
            # travels replica -> proxy -> caller. Stopping the proxies right then can cut
            # it ("Socket closed"), so they get a moment to deliver the last answers.
            time.sleep(min(RESPONSE_FLUSH_S, max(0.0, deadline - time.monotonic())))
        return left

    def stop(self, grace_s: float = 10.0) -> list[OwnedProcess]:
        """Shut down Serve, the Ray cluster (replicas stop their engines) and local Redis;
        then end any process of this run still alive (some Ray agents ignore SIGTERM).
        Returns the processes that had to be ended that way."""
        self._tracking.set()
        if self._started:
            self._snapshot()
        try:
            if self._started:
                try:
                    serve.shutdown()
                finally:
                    ray.shutdown()
                    self._started = False
        finally:
            for redis in self._redis:
                redis.stop()  # SIGTERM: redis-server flushes its AOF and exits
            self._redis.clear()
        return terminate(self._owned.values(), grace_s)

    def kill(self) -> None:
        """Fast stop: SIGKILL every process of this run at once."""
        self._tracking.set()
        self._snapshot()
        terminate(self._owned.values(), grace_s=0.0)


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
