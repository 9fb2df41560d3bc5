"""The container node family: ``docker.run``, a container run through the Docker Engine API on its Unix
socket (Docker, or Podman's compatible service)."""

from __future__ import annotations

from ._client import DockerClient, DockerError, Ulimit

__all__ = ["BUILTINS", "DockerClient", "DockerError", "Ulimit"]

# node type -> (module, class): registered in NodeRegistry.default(), imported on first use
BUILTINS: dict[str, tuple[str, str]] = {
    "docker.run": ("flowloom.nodes.containers.run", "DockerRunExecutor"),
}
