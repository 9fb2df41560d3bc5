"""The seam every front door goes through: a ``WorkflowFormat`` turns a document of its own into an
``ir.Workflow``; a ``FormatRegistry`` finds the format of a document by its content."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from flowloom.ir import InvalidWorkflowError, Source, Workflow

from ._document import read_document

InputCheck = Callable[[Mapping[str, Any]], list[str]]
"""Everything wrong with a run's inputs, as messages (empty: the inputs are fine)."""


@dataclass(frozen=True, slots=True)
class LoadedWorkflow:
    """A document read into the IR.

    ``check_inputs`` checks a run's inputs the way the format's own runtime does. ``lenient_node_types``:
    a node type nobody registered is not a validation error but fails the node when it is reached (what
    flowgram's runtime does, and its conformance corpus pins); every other format refuses it up front.
    ``problems``: what the format read but could not use (a malformed node setting, left out), as
    ``(message, node id)``; a run warns about them, strict validation refuses the workflow.
    """

    workflow: Workflow
    check_inputs: InputCheck | None = None
    lenient_node_types: bool = False
    problems: tuple[tuple[str, str | None], ...] = ()


class WorkflowFormat(Protocol):
    """A front door: a workflow document format (parsed JSON) the engine can run."""

    name: ClassVar[str]

    def detect(self, document: Any) -> bool:
        """Whether ``document`` (parsed JSON) is in this format. Cheap: looks at its shape only."""

    def load(self, document: Any) -> LoadedWorkflow:
        """Check ``document`` and build its workflow. Raises ``InvalidWorkflowError`` with every problem,
        each naming the node and field."""


class FormatRegistry:
    """The formats an engine reads, in detection order: the first whose ``detect`` accepts a document
    loads it. ``fallback`` loads what no format recognises (its own validation then says what is wrong)."""

    def __init__(self, formats: list[WorkflowFormat], *, fallback: str | None = None) -> None:
        self._formats: dict[str, WorkflowFormat] = {}
        for fmt in formats:
            self.register(fmt)
        if fallback is not None and fallback not in self._formats:
            raise ValueError(f"fallback format {fallback!r} is not among the formats")
        self.fallback = fallback

    def register(self, fmt: WorkflowFormat, *, first: bool = False) -> None:
        """Add a format (``first``: detected before the others). A name can be registered once."""
        if fmt.name in self._formats:
            raise ValueError(f"a workflow format named {fmt.name!r} is registered already")
        if first:
            self._formats = {fmt.name: fmt, **self._formats}
        else:
            self._formats[fmt.name] = fmt

    def __iter__(self) -> Iterator[WorkflowFormat]:
        return iter(self._formats.values())

    @property
    def names(self) -> list[str]:
        return list(self._formats)

    def get(self, name: str) -> WorkflowFormat:
        """The format called ``name``; ``InvalidWorkflowError`` naming the known ones if there is none."""
        fmt = self._formats.get(name)
        if fmt is None:
            raise InvalidWorkflowError([f"unknown workflow format {name!r}; known: {', '.join(self.names)}"])
        return fmt

    def detect(self, document: Any) -> WorkflowFormat:
        """The format of ``document``; ``InvalidWorkflowError`` if none recognises it and there is no
        fallback."""
        for fmt in self._formats.values():
            if fmt.detect(document):
                return fmt
        if self.fallback is not None:
            return self._formats[self.fallback]
        raise InvalidWorkflowError(
            [f"not a workflow of a known format ({', '.join(self.names)}): {_shape(document)}"]
        )

    def read(self, source: Source) -> tuple[Any, str]:
        """The parsed document of ``source`` and a hash of its content (see ``read_document``)."""
        return read_document(source)

    def load(self, document: Any, format: str | None = None) -> LoadedWorkflow:
        """Load ``document`` in ``format`` (a name), or in the format detected from its content."""
        fmt = self.get(format) if format is not None else self.detect(document)
        return fmt.load(document)


def _shape(document: Any) -> str:
    if isinstance(document, Mapping):
        keys = ", ".join(sorted(str(k) for k in document)[:8])
        return f"an object with keys {keys}" if keys else "an empty object"
    return f"a JSON {type(document).__name__}"
