"""Where the CLI's and the server's node work runs (``--workers``), and how long their run leases last
(``--lease-ttl``)."""

from __future__ import annotations

import importlib.util
import re
from typing import Annotated

import typer

from flowloom.engine import DEFAULT_LEASE_TTL_S

from ._inputs import UsageProblem

DASK_ADDRESS_ENV = "FLOWLOOM_DASK_ADDRESS"
LEASE_TTL_ENV = "FLOWLOOM_LEASE_TTL_S"
THREADS = "threads"
_ADDRESS = re.compile(r"^[a-z][a-z0-9+]*://\S+$")

WorkersOption = Annotated[
    str | None,
    typer.Option(
        "--workers",
        envvar=DASK_ADDRESS_ENV,
        help="Where node work runs: 'threads' (here: threads and sandbox processes) or a Dask scheduler "
        "address such as tcp://host:8786 (needs the dask extra; default: threads)",
        show_default=False,
    ),
]
LeaseTtlOption = Annotated[
    float,
    typer.Option(
        "--lease-ttl",
        envvar=LEASE_TTL_ENV,
        help="Seconds a run's lease lasts without renewal: a dead server's runs are resumed by another "
        "within two of them.",
    ),
]
DEFAULT_LEASE_TTL = DEFAULT_LEASE_TTL_S


def workers_address(value: str | None) -> str | None:
    """The Dask scheduler address ``--workers`` names, or None for threads here."""
    if value is None or value.strip() in ("", THREADS):
        return None
    value = value.strip()
    if not _ADDRESS.match(value):
        raise UsageProblem(
            f"--workers: expected '{THREADS}' or a Dask scheduler address such as tcp://host:8786, "
            f"got {value!r}"
        )
    if importlib.util.find_spec("distributed") is None:
        raise UsageProblem(
            f"--workers {value}: Dask is not installed; install flowloom with its dask extra (flowloom[dask])"
        )
    return value


def lease_ttl(value: float) -> float:
    if not value > 0:
        raise UsageProblem(f"--lease-ttl: expected a positive number of seconds, got {value:g}")
    return value
