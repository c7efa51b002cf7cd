"""Kubernetes manifests without a cluster: each overlay renders (kubectl kustomize), every
object validates against the Kubernetes schemas, the RayService's serveConfigV2 is the
rendered variant of config/serve-local.yaml and passes the strict Serve validation."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from deployments.k8s_render import LOCAL_CONFIG, VARIANTS, embedded_config, render
from deployments.serve_config import validate_serve_config
from ponder import env
from ponder.config import load_yaml

K8S = Path(__file__).parents[2] / "k8s"
KUBERNETES_VERSION = "1.32.0"
OVERLAYS = ("dev-cpu", "prod-gpu")
GATEWAY_API = "gateway.networking.k8s.io/"


def _build(overlay: str) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl is needed to render the kustomize overlays"
    result = subprocess.run(
        [kubectl, "kustomize", str(K8S / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def _ray_service(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (service,) = [d for d in docs if d["kind"] == "RayService"]
    return service


def _groups(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    cluster = service["spec"]["rayClusterConfig"]
    groups = {g["groupName"]: g for g in cluster["workerGroupSpecs"]}
    return {"head": cluster["headGroupSpec"]} | groups


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.name)
def test_manifests_carry_the_rendered_serve_config(variant: Any) -> None:
    rendered = render(variant.name)
    assert embedded_config(variant.manifest) == rendered, (
        "stale serveConfigV2: run python -m deployments.k8s_render"
    )
    # The variant is the local config plus the variant's overrides: same applications,
    # same import path, same deployments; every local key still there.
    local = load_yaml(LOCAL_CONFIG)
    assert [a["name"] for a in rendered["applications"]] == [
        a["name"] for a in local["applications"]
    ]
    assert (
        rendered["grpc_options"]["grpc_servicer_functions"]
        == (local["grpc_options"]["grpc_servicer_functions"])
    )

    def keys(data: Any, prefix: str = "") -> set[str]:
        if isinstance(data, dict):
            return {k for key, v in data.items() for k in keys(v, f"{prefix}{key}.")} | {prefix}
        return {prefix}

    assert keys(local["applications"][0]["args"]) <= keys(rendered["applications"][0]["args"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_and_validates(overlay: str) -> None:
    docs = _build(overlay)
    kinds = sorted(d["kind"] for d in docs)
    for kind in ("ConfigMap", "NetworkPolicy", "RayService", "Service", "StatefulSet"):
        assert kind in kinds, kinds
    for doc in docs:
        if doc["kind"] == "RayService" or doc["apiVersion"].startswith(GATEWAY_API):
            continue  # custom resources: KubeRay's and the Gateway API's own schemas
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    service = _ray_service(docs)
    assert service["apiVersion"] == "ray.io/v1"
    for name, group in _groups(service).items():
        # The pod templates inside the custom resource, validated as Kubernetes objects.
        template = {
            "apiVersion": "v1",
            "kind": "PodTemplate",
            "metadata": {"name": f"ponder-{name}"},
            "template": group["template"],
        }
        kubernetes_validate.validate(template, KUBERNETES_VERSION, strict=True)
        container = group["template"]["spec"]["containers"][0]
        assert container["resources"]["requests"] and container["resources"]["limits"]
        assert container["readinessProbe"] and container["livenessProbe"]
        assert container["lifecycle"]["preStop"]
        assert group["template"]["spec"]["terminationGracePeriodSeconds"] >= 60
        if name != "head":
            assert container["readinessProbe"]["grpc"]["port"] == 9000
            assert 1 <= group["minReplicas"] <= group["maxReplicas"]
    config = validate_serve_config(
        yaml.safe_load(service["spec"]["serveConfigV2"]), source=f"{overlay} serveConfigV2"
    )
    ponder = config.apps["ponder"]
    assert ponder.redis.url.startswith("redis://ponder@ponder-redis:")  # the ACL user
    assert not ponder.redis.start_local and ponder.redis.password_env == "PONDER_REDIS_PASSWORD"
    cluster = service["spec"]["rayClusterConfig"]
    assert cluster["enableInTreeAutoscaling"] is True
    assert cluster["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"


def test_prod_gpu_puts_decoders_on_gpu_nodes_and_autoscales() -> None:
    service = _ray_service(_build("prod-gpu"))
    groups = _groups(service)
    gpu = groups["gpu"]["template"]["spec"]
    limits = gpu["containers"][0]["resources"]["limits"]
    assert limits["nvidia.com/gpu"] == "1"
    assert groups["gpu"]["rayStartParams"]["num-gpus"] == "1"
    assert gpu["nodeSelector"] and any(t["key"] == "nvidia.com/gpu" for t in gpu["tolerations"])
    assert "ponder_cpu_node" in groups["cpu"]["rayStartParams"]["resources"]
    config = validate_serve_config(yaml.safe_load(service["spec"]["serveConfigV2"])).apps["ponder"]
    assert config.decoder.deployment.num_gpus == 1
    assert config.decoder.deployment.autoscaling is not None
    assert config.decoder.deployment.autoscaling.max_replicas >= 2
    for deployment in (config.planner.deployment, config.ingress.deployment):
        assert deployment.autoscaling is not None
        assert deployment.resources == {"ponder_cpu_node": 0.01}
    assert config.planner.learning.deployment.num_replicas == 1


def test_redis_persists_and_is_reachable_only_from_ponder() -> None:
    docs = _build("dev-cpu")
    (redis,) = [d for d in docs if d["kind"] == "StatefulSet"]
    (config,) = [d for d in docs if d["metadata"]["name"] == "ponder-redis-config"]
    conf = config["data"]["redis.conf"].splitlines()
    assert "appendonly yes" in conf and "aclfile /run/redis/users.acl" in conf
    # Full means refusing writes, never evicting the outcome log or being OOM-killed.
    assert "maxmemory-policy noeviction" in conf
    maxmemory_mb = int(next(line for line in conf if line.startswith("maxmemory ")).split()[1][:-2])
    limit = redis["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"]
    assert limit.endswith("Gi") and maxmemory_mb < int(limit[:-2]) * 1024 * 0.8
    assert redis["spec"]["volumeClaimTemplates"]
    policies = {d["metadata"]["name"]: d for d in docs if d["kind"] == "NetworkPolicy"}
    redis_rule = policies["ponder-redis"]["spec"]["ingress"]
    assert redis_rule == [
        {
            "from": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "ponder"}}}],
            "ports": [{"protocol": "TCP", "port": 6379}],
        }
    ]
    ingress = policies["ponder-ray"]["spec"]["ingress"]
    assert all("from" in rule for rule in ingress)  # no port open to every pod
    api_ports = [{"protocol": "TCP", "port": 9000}, {"protocol": "TCP", "port": 8000}]
    (api_rule,) = [rule for rule in ingress if rule.get("ports") == api_ports]
    assert api_rule["from"] == [
        {
            "namespaceSelector": {},
            "podSelector": {"matchLabels": {"ponder.io/api-caller": "true"}},
        }
    ]
    assert policies["ponder-redis"]["spec"]["egress"] == []  # Redis opens no connection


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_telemetry_configmap_agrees_with_the_serve_config(overlay: str) -> None:
    docs = _build(overlay)
    (configmap,) = [
        d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "ponder-telemetry"
    ]
    data = configmap["data"]
    service = _ray_service(docs)
    tracing = (
        validate_serve_config(yaml.safe_load(service["spec"]["serveConfigV2"]))
        .apps["ponder"]
        .telemetry.tracing
    )
    assert data["PONDER_TRACING_EXPORTER"] == tracing.exporter
    assert float(data["RAY_SERVE_TRACING_SAMPLING_RATIO"]) == tracing.sampling_ratio
    assert data["OTEL_EXPORTER_OTLP_ENDPOINT"] == tracing.otlp_endpoint
    assert data["RAY_SERVE_TRACING_EXPORTER_IMPORT_PATH"] == (
        "ponder.telemetry.tracing:span_processors"
    )
    for group in _groups(service).values():
        container = group["template"]["spec"]["containers"][0]
        assert {"configMapRef": {"name": "ponder-telemetry"}} in container["envFrom"]
        assert group["rayStartParams"]["metrics-export-port"] == "8080"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_grpc_message_limit_agrees_with_the_serve_config(overlay: str) -> None:
    service = _ray_service(_build(overlay))
    config = validate_serve_config(yaml.safe_load(service["spec"]["serveConfigV2"]))
    wanted = env.grpc_message_environment(config.apps["ponder"].ingress.max_message_bytes)
    for group in _groups(service).values():
        container = group["template"]["spec"]["containers"][0]
        values = {e["name"]: e.get("value") for e in container["env"]}
        assert {name: values.get(name) for name in wanted} == wanted


def test_dashboard_queries_name_metrics_the_deployments_export() -> None:
    import json
    import re

    exported = set(
        re.findall(r'"(ponder_[a-z_]+)"', (K8S.parent / "deployments" / "metrics.py").read_text())
    )
    dashboard = json.loads((K8S / "monitoring" / "grafana-dashboard.json").read_text())
    used = {
        match
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for match in re.findall(r"ray_(ponder_[a-z_]+)", target["expr"])
    }
    assert used, "the dashboard shows no Ponder metric"
    suffixes = ("_total", "_bucket", "_count", "_sum")
    bases = {next((n[: -len(s)] for s in suffixes if n.endswith(s)), n) for n in used}
    assert bases <= exported, f"not exported by deployments/metrics.py: {bases - exported}"
    assert exported <= bases, f"exported but on no dashboard panel: {exported - bases}"


@pytest.mark.parametrize("job_name", ["adapter", "student"])
def test_training_rayjob_runs_the_job_on_gpu_workers(job_name: str) -> None:
    jobs = K8S / "jobs"
    (storage,) = [d for d in yaml.safe_load_all((jobs / "storage.yaml").read_text()) if d]
    kubernetes_validate.validate(storage, KUBERNETES_VERSION, strict=True)
    assert storage["spec"]["accessModes"] == ["ReadWriteMany"]
    manifest = jobs / f"train-{job_name}.yaml"
    (job,) = [d for d in yaml.safe_load_all(manifest.read_text()) if d]
    assert (job["apiVersion"], job["kind"]) == ("ray.io/v1", "RayJob")
    entry = job["spec"]["entrypoint"].split()
    assert entry[:3] == ["ponder", "train", job_name] and "--gpu" in entry
    # The job's options exist on the real command, and its config file is the repo's.
    from ponder.cli import build_parser

    args = build_parser().parse_args(entry[1:])
    assert args.gpu and args.workers == 2 and args.run_name
    wanted = {"adapter": "train-adapter.yaml", "student": "train-student-gpu.yaml"}[job_name]
    assert Path(args.config).name == wanted
    assert (Path(__file__).parents[2] / "config" / wanted).is_file()
    cluster = job["spec"]["rayClusterSpec"]
    groups = {"head": cluster["headGroupSpec"]} | {
        g["groupName"]: g for g in cluster["workerGroupSpecs"]
    }
    for name, group in groups.items():
        template = {
            "apiVersion": "v1",
            "kind": "PodTemplate",
            "metadata": {"name": f"ponder-train-{name}"},
            "template": group["template"],
        }
        kubernetes_validate.validate(template, KUBERNETES_VERSION, strict=True)
        mounts = {
            m["mountPath"] for m in group["template"]["spec"]["containers"][0]["volumeMounts"]
        }
        assert "/train" in mounts  # checkpoints on the shared volume: resumable
    gpu = groups["gpu"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert gpu["nvidia.com/gpu"] == "1"
    assert groups["gpu"]["replicas"] == int(args.workers)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_drain_before_ray_stops_within_the_grace_period(overlay: str) -> None:
    """preStop creates the drain file (health NOT_SERVING, new calls refused), waits the
    configured drain grace, then stops Ray; all of it fits in the termination grace."""
    import re

    service = _ray_service(_build(overlay))
    config = validate_serve_config(
        yaml.safe_load(service["spec"]["serveConfigV2"]), source=f"{overlay} serveConfigV2"
    )
    drain_grace = config.apps["ponder"].ingress.drain_grace_s
    for name, group in _groups(service).items():
        spec = group["template"]["spec"]
        container = spec["containers"][0]
        drain_file = {e["name"]: e.get("value") for e in container["env"]}["PONDER_DRAIN_FILE"]
        command = container["lifecycle"]["preStop"]["exec"]["command"][-1]
        match = re.fullmatch(
            rf"touch {re.escape(drain_file)} && sleep (\d+) && ray stop --grace-period (\d+)",
            command,
        )
        assert match, (name, command)
        sleep, ray_grace = int(match.group(1)), int(match.group(2))
        assert sleep >= drain_grace, (name, sleep, drain_grace)
        assert spec["terminationGracePeriodSeconds"] >= sleep + ray_grace + 10, name


def _pod_specs(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every pod template of the overlay: Ray groups and the Redis StatefulSet."""
    specs = {name: g["template"]["spec"] for name, g in _groups(_ray_service(docs)).items()}
    for doc in docs:
        if doc["kind"] == "StatefulSet":
            specs[doc["metadata"]["name"]] = doc["spec"]["template"]["spec"]
    return specs


def _assert_locked_down(name: str, spec: dict[str, Any]) -> None:
    pod = spec["securityContext"]
    assert pod["runAsNonRoot"] is True and pod["runAsUser"] > 0, name
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, name
    for container in spec["containers"]:
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False, name
        assert context["readOnlyRootFilesystem"] is True, name
        assert context["capabilities"]["drop"] == ["ALL"], name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_the_head_mounts_a_service_account_token(overlay: str) -> None:
    """The head's autoscaler asks the Kubernetes API for pods; workers and Redis never do,
    so a compromised worker holds no API credential."""
    for name, spec in _pod_specs(_build(overlay)).items():
        if name == "head":
            continue
        assert spec.get("automountServiceAccountToken") is False, name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_runs_locked_down(overlay: str) -> None:
    docs = _build(overlay)
    for name, spec in _pod_specs(docs).items():
        _assert_locked_down(name, spec)
        container = spec["containers"][0]
        if name == "ponder-redis":
            continue
        # Read-only root: Ray's session dir, caches and the drain file live on an emptyDir.
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert "emptyDir" in volumes[mounts["/tmp"]], name
        environment = {e["name"]: e.get("value") for e in container["env"]}
        assert environment["PONDER_STATE_DIR"].startswith("/tmp/"), name
        assert environment["PONDER_DRAIN_FILE"].startswith("/tmp/"), name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_callers_and_ray_need_tokens(overlay: str) -> None:
    docs = _build(overlay)
    service = _ray_service(docs)
    # Ray: token auth on, generated by KubeRay; nothing turns it off.
    assert service["spec"]["rayClusterConfig"]["authOptions"] == {"mode": "token"}
    config = validate_serve_config(yaml.safe_load(service["spec"]["serveConfigV2"]))
    auth = config.apps["ponder"].auth
    assert auth.enabled and not auth.create_local_token
    token_dir = str(Path(auth.token_file).parent)
    secrets = {d["metadata"]["name"] for d in docs if d["kind"] == "Secret"}
    for name, spec in _pod_specs(docs).items():
        if name == "ponder-redis":
            continue
        container = spec["containers"][0]
        environment = {e["name"]: e.get("value") for e in container["env"]}
        assert "RAY_AUTH_MODE" not in environment and "PONDER_API_TOKENS" not in environment
        # The token file is the ponder-api-tokens Secret, mounted read-only (rotation
        # reaches the running pods: the ingress re-reads the file).
        mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
        assert mounts[token_dir]["readOnly"] is True, name
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert volumes[mounts[token_dir]["name"]]["secret"]["secretName"] == "ponder-api-tokens"
        probe = container["livenessProbe"]["exec"]["command"]
        assert probe[:2] == ["bash", "-c"], name
        # The token goes out through bash's printf, never as an argument `ps` could show.
        assert "Authorization: Bearer %s" in probe[2] and "printf" in probe[2], name
        assert probe[2].count("$RAY_AUTH_TOKEN") == 1 and "wget" not in probe[2], name
    if overlay == "dev-cpu":  # development secrets are generated by the overlay
        assert {"ponder-api-tokens", "ponder-redis"} <= secrets
        (tokens,) = [d for d in docs if d["metadata"]["name"] == "ponder-api-tokens"]
        import base64

        from ponder.security.tokens import TokenFile

        data = yaml.safe_load(base64.b64decode(tokens["data"]["tokens.yaml"]))
        assert TokenFile.model_validate(data).tokens
        assert Path(auth.token_file).name == "tokens.yaml"


def test_prod_callers_arrive_through_a_tls_gateway_only() -> None:
    docs = _build("prod-gpu")
    services = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}
    assert all(s["spec"].get("type", "ClusterIP") == "ClusterIP" for s in services.values())
    (gateway,) = [d for d in docs if d["kind"] == "Gateway"]
    (listener,) = gateway["spec"]["listeners"]
    assert listener["protocol"] == "HTTPS" and listener["tls"]["mode"] == "Terminate"
    assert listener["tls"]["certificateRefs"] == [{"kind": "Secret", "name": "ponder-grpc-tls"}]
    (route,) = [d for d in docs if d["kind"] == "GRPCRoute"]
    (rule,) = route["spec"]["rules"]
    assert rule["backendRefs"] == [{"name": "ponder-grpc", "port": 9000}]


def test_the_namespace_denies_by_default_with_explicit_allows() -> None:
    docs = _build("prod-gpu")
    policies = {d["metadata"]["name"]: d["spec"] for d in docs if d["kind"] == "NetworkPolicy"}
    assert policies["default-deny"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    ray = policies["ponder-ray"]
    assert set(ray["policyTypes"]) == {"Ingress", "Egress"}
    allowed = [
        (peer.get("podSelector", {}).get("matchLabels", {}), port["port"])
        for rule in ray["egress"]
        for peer in rule.get("to", [{}])
        for port in rule.get("ports", [{"port": "any"}])
    ]
    assert ({"app.kubernetes.io/name": "ponder-redis"}, 6379) in allowed
    assert ({"k8s-app": "kube-dns"}, 53) in allowed
    assert ({}, 4317) in allowed  # the OTLP collector
    assert ({"app.kubernetes.io/name": "ponder"}, "any") in allowed  # Ray inside the cluster


def test_alerts_name_metrics_the_deployments_export() -> None:
    import re

    exported = set(
        re.findall(r'"(ponder_[a-z_]+)"', (K8S.parent / "deployments" / "metrics.py").read_text())
    )
    (rules,) = [d for d in yaml.safe_load_all((K8S / "monitoring" / "alerts.yaml").read_text())]
    expressions = [r["expr"] for g in rules["spec"]["groups"] for r in g["rules"]]
    used = {m for e in expressions for m in re.findall(r"ray_(ponder_[a-z_]+)", e)}
    bases = {m.removesuffix("_total") for m in used}
    assert "ponder_redis_memory_used_ratio" in bases and bases <= exported


def test_the_refresh_rayjob_runs_the_cli_job_on_one_gpu_pod_with_the_cluster_config() -> None:
    (job,) = [d for d in yaml.safe_load_all((K8S / "jobs" / "train-refresh.yaml").read_text()) if d]
    assert (job["apiVersion"], job["kind"]) == ("ray.io/v1", "RayJob")
    entry = job["spec"]["entrypoint"].split()
    assert entry[:3] == ["ponder", "train", "refresh"]
    from deployments.k8s_render import VARIANTS
    from ponder.cli import build_parser
    from ponder.training.settings import RefreshTrainingConfig, load_training_config

    args = build_parser().parse_args(entry[1:])
    assert args.local and args.variant in {v.name for v in VARIANTS}
    config = Path(__file__).parents[2] / "config" / Path(args.config).name
    assert load_training_config(RefreshTrainingConfig, config).use_gpu
    head = job["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]
    kubernetes_validate.validate(
        {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "r"}, "template": head},
        KUBERNETES_VERSION,
        strict=True,
    )
    container = head["spec"]["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    secrets = [e for e in container["env"] if e["name"] == "PONDER_REDIS_PASSWORD"]
    assert secrets[0]["valueFrom"]["secretKeyRef"]["name"] == "ponder-redis"


@pytest.mark.parametrize("job_name", ["adapter", "student", "refresh"])
def test_training_jobs_run_locked_down_with_ray_tokens(job_name: str) -> None:
    (job,) = [
        d for d in yaml.safe_load_all((K8S / "jobs" / f"train-{job_name}.yaml").read_text()) if d
    ]
    cluster = job["spec"]["rayClusterSpec"]
    assert cluster["authOptions"] == {"mode": "token"}
    groups = {"head": cluster["headGroupSpec"]} | {
        g["groupName"]: g for g in cluster.get("workerGroupSpecs", [])
    }
    for name, group in groups.items():
        _assert_locked_down(name, group["template"]["spec"])
        assert group["template"]["spec"]["automountServiceAccountToken"] is False, name
    # The submitter KubeRay runs `ray job submit` in: locked down, no API token, and a
    # Ponder pod (the default-deny NetworkPolicy admits only those to the head).
    # The submitter pod calls the head's job API: the dashboard listens beyond loopback.
    assert cluster["headGroupSpec"]["rayStartParams"]["dashboard-host"] == "0.0.0.0"
    submitter = job["spec"]["submitterPodTemplate"]
    _assert_locked_down("submitter", submitter["spec"])
    assert submitter["spec"]["automountServiceAccountToken"] is False
    assert submitter["metadata"]["labels"]["app.kubernetes.io/name"] == "ponder"
    assert "command" not in submitter["spec"]["containers"][0]  # KubeRay supplies it


def test_redis_runs_ponders_acl_user_and_no_secret_reaches_a_command_line() -> None:
    """The ACL rule is ponder/redis_acl.py's (the local redis-server's), the default user's
    password is random and never kept, the administrative commands are renamed away as
    locally, and the password reaches the ACL file only through the shell's printf, hashed."""
    from ponder.redis_acl import rule_body
    from ponder.redis_server import DISABLED_COMMANDS

    docs = _build("dev-cpu")
    (redis,) = [d for d in docs if d["kind"] == "StatefulSet"]
    (config,) = [d for d in docs if d["metadata"]["name"] == "ponder-redis-config"]
    assert config["data"]["acl-rule"] == rule_body()
    conf = config["data"]["redis.conf"].splitlines()
    assert {f'rename-command {command} ""' for command in DISABLED_COMMANDS} <= set(conf)
    container = redis["spec"]["template"]["spec"]["containers"][0]
    (script,) = container["args"]
    assert "user default on #%s" in script and "/dev/urandom" in script
    assert "user ponder on #%s" in script
    assert script.count("$REDIS_PASSWORD") == 1 and "printf '%s' \"$REDIS_PASSWORD\" |" in script
    assert "--requirepass" not in script and script.strip().endswith(
        "exec redis-server /etc/ponder-redis/redis.conf"
    )
    assert "unset REDIS_PASSWORD REDISCLI_AUTH" in script  # not left in the server's env
    for probe in (container["readinessProbe"], container["livenessProbe"]):
        assert probe["exec"]["command"] == ["redis-cli", "--user", "ponder", "ping"]
    mounts = {mount["mountPath"]: mount for mount in container["volumeMounts"]}
    assert mounts["/etc/ponder-redis"].get("readOnly") and "/run/redis" in mounts


def test_dashboard_engine_panels_name_metrics_vllm_exports() -> None:
    """The engine panels read vLLM's own metrics (ray_vllm_*: vLLM's Prometheus logger
    over Ray's metrics, named as Ray sanitises them): each must be one vLLM defines."""
    import importlib.util
    import json
    import re

    spec = importlib.util.find_spec("vllm")
    assert spec is not None and spec.origin is not None
    source = (Path(spec.origin).parent / "v1" / "metrics" / "loggers.py").read_text()
    defined = {name.replace(":", "_") for name in re.findall(r'name="(vllm:[a-z_]+)"', source)}
    dashboard = json.loads((K8S / "monitoring" / "grafana-dashboard.json").read_text())
    used = {
        match
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for match in re.findall(r"ray_(vllm_[a-z_]+)", target["expr"])
    }
    suffixes = ("_total", "_bucket", "_count", "_sum")
    bases = {next((n[: -len(s)] for s in suffixes if n.endswith(s)), n) for n in used}
    wanted = {
        "vllm_kv_cache_usage_perc",
        "vllm_num_requests_running",
        "vllm_num_requests_waiting",
        "vllm_prefix_cache_hits",
        "vllm_prefix_cache_queries",
        "vllm_time_to_first_token_seconds",
        "vllm_inter_token_latency_seconds",
    }
    assert wanted <= bases, f"no panel shows {wanted - bases}"
    assert bases <= defined, f"vLLM defines no {bases - defined}"


def test_prod_decoders_scale_on_the_engine_queue() -> None:
    service = _ray_service(_build("prod-gpu"))
    config = validate_serve_config(yaml.safe_load(service["spec"]["serveConfigV2"]))
    app = config.apps["ponder"]
    from deployments.autoscaling_policy import POLICY_PATH
    from deployments.ray_options import serve_options

    for decoders in (app.decoder, app.student):
        assert decoders.engine.engine_metrics
        options = serve_options(decoders.deployment)
        policy = options["autoscaling_config"]["policy"]
        assert policy["policy_function"] == POLICY_PATH
        assert policy["policy_kwargs"]["target_engine_waiting"] > 0
