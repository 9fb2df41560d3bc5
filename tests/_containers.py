"""A Podman service for docker.run's tests: `scripts/containers.sh` installs Podman (apt-get, when
missing), builds the local test image (busybox + python3, no registry) and serves the Docker Engine API on
a Unix socket, started once per test session."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "containers.sh"
IMAGE = "localhost/flowloom-test:py"


@contextmanager
def podman_service(directory: Path) -> Iterator[str]:
    """Yields the service's socket path once it answers ``GET /_ping``."""
    built = subprocess.run([SCRIPT, "image", IMAGE], capture_output=True, text=True, check=False)
    assert built.returncode == 0, built.stderr
    socket_path = str(directory / "podman.sock")
    service = subprocess.Popen(
        [SCRIPT, "serve", socket_path],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        transport = httpx.HTTPTransport(uds=socket_path)
        with httpx.Client(transport=transport, base_url="http://podman") as client:
            for _ in range(300):  # up to 30 s
                assert service.poll() is None, service.stderr.read().decode() if service.stderr else ""
                if os.path.exists(socket_path):
                    try:
                        if client.get("/_ping").text == "OK":
                            break
                    except httpx.TransportError:
                        pass
                time.sleep(0.1)
            else:
                raise AssertionError("podman system service did not answer in 30 s")
        yield socket_path
    finally:
        os.killpg(service.pid, signal.SIGTERM)
        try:
            service.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(service.pid, signal.SIGKILL)
            service.wait()
        if service.stderr is not None:
            service.stderr.close()
