"""prefect.yaml and the Dockerfile: the deployments are what `prefect deploy` reads, and they
agree with the code, the settings, the lock file and each other.

No Docker engine runs here, so the `hello-docker` image is not built; everything a build and a
run of it depend on is checked instead.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import prefect
import pytest
import yaml

from tasklane.settings import PoolSettings

ROOT = Path(__file__).resolve().parents[2]
BUILD_STEP = "prefect_docker.deployments.steps.build_docker_image"
WORKDIR_STEP = "prefect.deployments.steps.set_working_directory"
# The job variables of prefect-docker's Docker worker (DockerWorkerJobConfiguration).
DOCKER_JOB_VARIABLES = {
    "name",
    "command",
    "env",
    "labels",
    "image",
    "image_pull_policy",
    "networks",
    "network_mode",
    "auto_remove",
    "volumes",
    "stream_output",
    "mem_limit",
    "memswap_limit",
    "privileged",
    "container_create_kwargs",
    "registry_credentials",
}
PULL_POLICIES = {"IfNotPresent", "Always", "Never"}


def raw_config() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "prefect.yaml").read_text())


def deployments() -> list[dict[str, Any]]:
    return raw_config()["deployments"]


def by_name(name: str) -> dict[str, Any]:
    return next(d for d in deployments() if d["name"] == name)


def step(steps: list[dict[str, Any]], name: str) -> dict[str, Any]:
    found = [s[name] for s in steps if name in s]
    assert len(found) == 1, f"expected one {name} step in {steps}"
    return found[0]


def dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text()


def docker_deployments() -> list[str]:
    return [d["name"] for d in deployments() if d.get("build")]


def test_prefect_deploy_reads_it() -> None:
    from prefect.cli.deploy._models import PrefectYamlModel

    model = PrefectYamlModel.model_validate(raw_config())  # what `prefect deploy` validates
    names = [d.name for d in model.deployments]
    assert len(names) == len(set(names)) and "hello-docker" in names
    # The platform flows are `make up`'s (deployments/platform.py): one home, not two.
    assert not {"report", "maintenance"} & set(names)
    assert model.prefect_version == prefect.__version__
    for deployment in model.deployments:
        assert deployment.entrypoint and deployment.work_pool and deployment.work_pool.name


@pytest.mark.parametrize("name", [d["name"] for d in deployments()])
def test_each_entrypoint_is_a_flow_that_takes_its_parameters(name: str) -> None:
    from prefect.flows import load_flow_from_entrypoint

    deployment = by_name(name)
    flow = load_flow_from_entrypoint(deployment["entrypoint"])
    flow.validate_parameters(deployment.get("parameters") or {})


@pytest.mark.parametrize("name", docker_deployments())
def test_docker_example_builds_the_project_image_and_runs_in_it(name: str) -> None:
    from prefect.utilities.templating import apply_values

    deployment = by_name(name)
    build = step(deployment["build"], BUILD_STEP)
    assert "prefect-docker" in build["requires"]
    assert (ROOT / build.get("dockerfile", "Dockerfile")).resolve() == ROOT / "Dockerfile"
    assert re.fullmatch(r"[a-z0-9][a-z0-9._/-]*", build["image_name"])

    work_pool = deployment["work_pool"]
    assert work_pool["name"] != PoolSettings().name  # a Docker pool, not the process pool
    variables = work_pool["job_variables"]
    assert set(variables) <= DOCKER_JOB_VARIABLES, set(variables) - DOCKER_JOB_VARIABLES
    assert variables.get("image_pull_policy", "IfNotPresent") in PULL_POLICIES
    # `prefect deploy` fills the image in from the build step's output, keyed by its id.
    built = {build["id"]: {"image_name": "tasklane", "tag": "t1", "image": "tasklane:t1"}}
    assert apply_values(variables, built)["image"] == "tasklane:t1"

    # The run starts in the image's working directory, where the flow's package is.
    workdir = re.search(r"^WORKDIR\s+(\S+)", dockerfile(), re.M).group(1)
    assert step(deployment["pull"], WORKDIR_STEP)["directory"] == workdir
    package = deployment["entrypoint"].split(".")[0]
    assert re.search(rf"^COPY\s+{package}\s+\./{package}\s*$", dockerfile(), re.M)


def test_dockerfile_installs_the_locked_project_on_the_locked_prefect() -> None:
    text = dockerfile()
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    locked = {p["name"]: p["version"] for p in lock["package"]}
    base = re.search(r"^FROM\s+prefecthq/prefect:(\S+)-python(\d+\.\d+)", text, re.M)
    assert base and base.group(1) == locked["prefect"] == prefect.__version__
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    minimum = re.search(r">=\s*(\d+\.\d+)", project["project"]["requires-python"]).group(1)
    assert tuple(map(int, base.group(2).split("."))) >= tuple(map(int, minimum.split(".")))
    uv = re.search(r"^UV_VERSION\s*:=\s*(\S+)", (ROOT / "Makefile").read_text(), re.M).group(1)
    assert f"uv=={uv}" in text and "--frozen" in text

    # Every package of the wheel is in the image, and the build context lets each one in.
    packages = project["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    allowed = {
        line[1:].rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    copied = re.findall(r"^COPY\s+(.+?)\s+\S+\s*$", text, re.M)
    sources = {source for group in copied for source in group.split()}
    for needed in [*packages, "pyproject.toml", "uv.lock", "README.md"]:
        assert needed in sources, f"the Dockerfile does not copy {needed}"
        assert needed in allowed, f".dockerignore keeps {needed} out of the build context"
