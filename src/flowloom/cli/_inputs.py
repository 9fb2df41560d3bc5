"""Reading a JSON option of the command line (``--inputs``, and any other option that takes a JSON object
or ``@file``): every way it can be wrong is a ``UsageProblem`` naming the option or file."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any


class UsageProblem(Exception):
    """Bad command-line input: reported on one line, exit code 2."""


def read_json_object(option: str | None, *, name: str = "--inputs") -> dict[str, Any]:
    """The JSON object ``option`` holds (``{}`` when absent): its text, or ``@path`` of a file with it."""
    if option is None:
        return {}
    value = read_json_option(option, name)
    if not isinstance(value, dict):
        where = f"{name.lstrip('-')} file {option[1:]}" if option.startswith("@") else name
        raise UsageProblem(f"{where} must be a JSON object, got {type(value).__name__}")
    return value


def read_json_option(option: str, name: str) -> Any:
    """A JSON option's value (``name``: ``--inputs``, ``--payload``): JSON text, or ``@path`` to a file
    holding it. ``UsageProblem`` naming the option (or file) when it cannot be read or is not JSON."""
    where, text = name, option
    if option.startswith("@"):
        path = Path(option[1:])
        where = f"{name.lstrip('-')} file {path}"
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageProblem(f"cannot read {where}: {exc.strerror or exc}") from exc
        except UnicodeDecodeError as exc:
            raise UsageProblem(
                f"{where} is not UTF-8 text (byte {exc.start}: {exc.reason}); it must hold JSON"
            ) from exc
    return parse_json_text(text, where)


def parse_json_text(text: str, where: str) -> Any:
    """Strict JSON: no ``NaN``/``Infinity``, no number too large for a double (``1e999``), and a nesting
    depth Python's parser can take. Anything else is a ``UsageProblem`` naming ``where``."""
    try:
        return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        raise UsageProblem(
            f"{where} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc
    except NonFiniteNumber as exc:
        raise UsageProblem(f"{where}: {exc}") from exc
    except ValueError as exc:  # an integer literal longer than Python converts (4,300 digits)
        raise UsageProblem(f"{where} is not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise UsageProblem(f"{where} is nested too deeply to read") from exc


class NonFiniteNumber(ValueError):
    """A number JSON cannot carry: ``NaN``, ``Infinity`` or one beyond a double's range."""


def _refuse_constant(name: str) -> Any:
    raise NonFiniteNumber(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise NonFiniteNumber(f"the number {text} is too large (beyond a double's range)")
    return value


def workflow_problem(file: Path, errors: list[str]) -> str:
    """The one-line message of a workflow that does not validate."""
    text = "; ".join(errors)
    return text if str(file) in text else f"invalid workflow {file}: {text}"


def inputs_problem(file: Path, errors: list[str]) -> str:
    """The one-line message of inputs that do not fit a (valid) workflow."""
    return f"invalid inputs for {file}: {'; '.join(errors)}"
