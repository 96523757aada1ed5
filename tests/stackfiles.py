"""Readers of the Docker stack's files, shared by the unit cross-checks and the compose runtime test:
the compose file as compose itself would interpolate it, the cluster, secured, monitoring and lake
forms as compose would lay docker-compose.<form>.yml over it, and the images the Dockerfiles start
FROM."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import yaml

from tickets_local.process import ROOT

COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
CLUSTER_FILE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.cluster.yml").read_text())


def merged(base: Any, override: Any, key: str = "") -> Any:
    """`override` laid over `base` as Compose merges files: mappings key by key, `command` and
    `entrypoint` replaced, other lists (ports, volumes) extended by the entries not already there."""
    if isinstance(base, dict) and isinstance(override, dict):
        return {
            k: merged(base[k], override[k], k) if k in base and k in override else {**base, **override}[k]
            for k in {**base, **override}
        }
    if isinstance(base, list) and isinstance(override, list) and key not in ("command", "entrypoint"):
        return base + [item for item in override if item not in base]
    return override


CLUSTER: dict[str, Any] = merged(COMPOSE, CLUSTER_FILE)
SECURED_FILE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.secured.yml").read_text())
SECURED: dict[str, Any] = merged(COMPOSE, SECURED_FILE)
MONITORING_FILE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.monitoring.yml").read_text())
MONITORING: dict[str, Any] = merged(COMPOSE, MONITORING_FILE)
LAKE_FILE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.lake.yml").read_text())
LAKE: dict[str, Any] = merged(COMPOSE, LAKE_FILE)


def interpolate(value: str, env: Mapping[str, str] | None = None) -> str:
    """Compose's ${VAR:-default} (nested too): `env` as .env would set it, the defaults otherwise."""
    env = env or {}
    pattern = re.compile(r"\$\{(\w+)(?::?-([^${}]*))?\}")
    while (match := pattern.search(value)) is not None:
        name, default = match.group(1), match.group(2) or ""
        value = value[: match.start()] + (env.get(name) or default) + value[match.end() :]
    return value


def dockerfile(service: str) -> str:
    return (ROOT / service / "Dockerfile").read_text()


def arg_default(text: str, name: str) -> str:
    match = re.search(rf"^ARG {name}=(\S+)$", text, re.M)
    assert match is not None, f"no ARG {name} with a default"
    return match.group(1)


def from_image(service: str) -> str:
    """The image `service`/Dockerfile starts FROM, its build arguments at their defaults."""
    text = dockerfile(service)
    image = re.search(r"^FROM (\S+)", text, re.M).group(1)
    return re.sub(r"\$\{(\w+)\}", lambda m: arg_default(text, m.group(1)), image)


def base_images() -> dict[str, str]:
    """Every image the stack needs from a registry: the Dockerfiles' bases and the `image:` entries
    (the monitoring form's Prometheus and Grafana and the lake form's S3 server included)."""
    images = {service: from_image(service) for service in ("producer", "spark", "redpanda")}
    for name, service in {**MONITORING["services"], **LAKE["services"]}.items():
        if "image" in service:
            images[name] = interpolate(service["image"])
    return images
