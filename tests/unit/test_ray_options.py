"""The local cluster reserves enough logical CPUs for every deployment of the config."""

from __future__ import annotations

import os

from deployments.ray_options import deployments_of, local_cpus
from ponder.config import PonderConfig


def test_a_student_adds_its_deployment_and_its_cpus() -> None:
    plain = PonderConfig()
    with_student = PonderConfig.model_validate(
        {"student": {"enabled": True, "name": "s-1", "deployment": {"num_cpus": 1.0}}}
    )
    assert len(deployments_of(with_student)) == len(deployments_of(plain)) + 1
    reserved = sum(d.num_cpus for d in deployments_of(with_student))
    assert local_cpus([with_student]) >= reserved
    assert local_cpus([plain]) >= (os.cpu_count() or 1)


def test_autoscaled_deployments_count_at_their_largest() -> None:
    config = PonderConfig.model_validate(
        {
            "decoder": {
                "deployment": {
                    "num_replicas": None,
                    "num_cpus": 2.0,
                    "autoscaling": {"min_replicas": 1, "max_replicas": 8},
                }
            }
        }
    )
    assert local_cpus([config]) >= 16
