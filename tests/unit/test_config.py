import copy
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from deployments.ray_options import serve_options
from deployments.serve_config import ServeConfigError, load_serve_config, validate_serve_config
from ponder.config import AutoscalingConfig, DeploymentConfig, EngineConfig, PonderConfig

SERVE_LOCAL = Path(__file__).parents[2] / "config" / "serve-local.yaml"


def local_config() -> dict:
    return yaml.safe_load(SERVE_LOCAL.read_text())


def test_defaults_are_valid() -> None:
    config = PonderConfig()
    assert config.decoder.engine.dtype == "float32"
    assert config.ingress.limits.max_stop_strings == 16


def test_config_is_frozen() -> None:
    config = PonderConfig()
    with pytest.raises(ValidationError):
        config.decoder = config.decoder  # type: ignore[misc]


def test_unknown_keys_are_rejected() -> None:
    with pytest.raises(ValidationError, match="extra"):
        PonderConfig.model_validate({"decoder": {"engine": {"max_model_length": 10}}})


def test_every_field_is_described() -> None:
    from pydantic import BaseModel

    seen: set[type] = set()

    def walk(model: type[BaseModel]) -> None:
        if model in seen:
            return
        seen.add(model)
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} has no description"
            annotation = field.annotation
            for candidate in (annotation, *getattr(annotation, "__args__", ())):
                if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                    walk(candidate)

    walk(PonderConfig)
    assert EngineConfig in seen and AutoscalingConfig in seen


def test_autoscaling_bounds_are_checked() -> None:
    with pytest.raises(ValidationError, match="min_replicas"):
        AutoscalingConfig(min_replicas=3, max_replicas=2)


def test_replicas_and_autoscaling_are_exclusive() -> None:
    with pytest.raises(ValidationError, match="num_replicas"):
        DeploymentConfig(num_replicas=2, autoscaling=AutoscalingConfig())
    options = serve_options(DeploymentConfig(num_replicas=None, autoscaling=AutoscalingConfig()))
    assert "autoscaling_config" in options and "num_replicas" not in options
    fixed = serve_options(DeploymentConfig(num_replicas=2, num_cpus=0.5))
    assert fixed["num_replicas"] == 2
    assert fixed["ray_actor_options"] == {"num_cpus": 0.5, "num_gpus": 0.0}


def test_local_serve_config_is_valid() -> None:
    config = load_serve_config(SERVE_LOCAL)
    assert set(config.apps) == {"ponder"}
    assert config.schema.grpc_options.port == 9000
    assert config.apps["ponder"].decoder.deployment.num_replicas == 1


def _mutated(path: list, value: object) -> dict:
    data = copy.deepcopy(local_config())
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return data


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (["grpc_options", "prot"], 1, "grpc_options.prot"),
        (["applications", 0, "route_prefx"], "/x", "route_prefx"),
        (["applications", 0, "route_prefix"], "ponder", "route_prefix"),
        (["applications", 0, "args", "decoder", "engine", "dtyp"], "float32", "dtyp"),
        (["applications", 0, "args", "decoder", "engine", "max_model_len"], 1, "max_model_len"),
        (["applications", 0, "import_path"], "elsewhere:app", "no application"),
        (["color"], "blue", "color"),
        # yielding steps needs the long prompts' per-step cap that makes them chunked
        (
            ["applications", 0, "args", "decoder", "engine", "long_prefill_token_threshold"],
            0,
            "prefill_yield_steps needs long_prefill_token_threshold",
        ),
    ],
)
def test_serve_config_problems_are_rejected(path: list, value: object, message: str) -> None:
    with pytest.raises(ServeConfigError, match=message):
        validate_serve_config(_mutated(path, value))


def test_serve_config_rejects_min_above_max_in_deployment_overrides() -> None:
    data = local_config()
    data["applications"][0]["deployments"] = [
        {"name": "Decoder", "autoscaling_config": {"min_replicas": 4, "max_replicas": 2}}
    ]
    with pytest.raises(ServeConfigError, match="min_replicas"):
        validate_serve_config(data)


def test_planner_defaults_must_sit_within_their_limits() -> None:
    from ponder.config import PlannerConfig

    with pytest.raises(ValidationError, match="default_branches"):
        PlannerConfig(default_branches=8, max_branches=4)
    with pytest.raises(ValidationError, match="default_max_tokens"):
        PlannerConfig(default_max_tokens=4096, max_tokens_limit=2048)
    assert PlannerConfig(default_branches=4, max_branches=4).default_branches == 4


def test_planner_adapter_must_be_a_served_adapter() -> None:
    with pytest.raises(ValidationError, match=r"planner\.adapter 'math-x'"):
        PonderConfig.model_validate({"planner": {"adapter": "math-x"}})
    config = PonderConfig.model_validate(
        {
            "planner": {"adapter": "math-x"},
            "decoder": {"engine": {"lora_adapters": {"math-x": "adapters/x"}}},
        }
    )
    assert config.decoder.engine.adapter_dirs()["math-x"].is_absolute()


def test_planner_model_must_be_the_served_student() -> None:
    student = {"enabled": True, "name": "student-1234abcd"}
    with pytest.raises(ValidationError, match=r"planner\.model 'student-1234abcd'"):
        PonderConfig.model_validate({"planner": {"model": "student-1234abcd"}})
    with pytest.raises(ValidationError, match=r"planner\.adapter must be empty"):
        PonderConfig.model_validate(
            {
                "student": student,
                "planner": {"model": "student-1234abcd", "adapter": "math-x"},
                "decoder": {"engine": {"lora_adapters": {"math-x": "adapters/x"}}},
            }
        )
    config = PonderConfig.model_validate(
        {"student": student, "planner": {"model": "student-1234abcd"}}
    )
    assert config.student.engine_config().model_path().name == "student-1234abcd"


def test_refresh_adapters_are_for_the_student_and_need_the_registry() -> None:
    student = {"enabled": True, "name": "s-1", "engine": {"refresh_adapters": True}}
    with pytest.raises(ValidationError, match=r"needs Redis .* planner\.learning\.enabled"):
        PonderConfig.model_validate({"student": student, "redis": {"start_local": False}})
    with pytest.raises(ValidationError, match=r"planner\.learning\.enabled"):
        PonderConfig.model_validate(
            {"student": student, "planner": {"learning": {"enabled": False}}}
        )
    with pytest.raises(ValidationError, match=r"decoder\.engine\.refresh_adapters"):
        PonderConfig.model_validate({"decoder": {"engine": {"refresh_adapters": True}}})
    config = PonderConfig.model_validate({"student": student, "redis": {"url": "redis://r:1"}})
    assert config.student.engine_config().refresh_adapters


def test_student_section_is_checked() -> None:
    with pytest.raises(ValidationError, match=r"student\.enabled needs student\.name"):
        PonderConfig.model_validate({"student": {"enabled": True}})
    with pytest.raises(ValidationError, match="serves no adapters"):
        PonderConfig.model_validate(
            {"student": {"name": "s-1", "engine": {"lora_adapters": {"a": "adapters/a"}}}}
        )
    with pytest.raises(ValidationError, match=r"student\.engine\.enable_prompt_embeds"):
        PonderConfig.model_validate(
            {
                "decoder": {"engine": {"enable_prompt_embeds": True}},
                "student": {"enabled": True, "name": "s-1"},
                "encoder": {"enabled": True},
            }
        )
