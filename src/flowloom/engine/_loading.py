"""The engine's first part: reading documents through its formats, checking them (structure, strict
rules, inputs) and compiling them into plans, each cached by content hash. ``Engine`` is a
``WorkflowLoading`` and a ``RunExecution`` (``_execution``); ``_engine`` starts, resumes and cancels runs."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from flowloom.ir import InvalidWorkflowError, Source, ValidationResult, Workflow

from ._gc import collector_paused
from ._inputs import nonfinite_input_errors
from ._plan import CompiledWorkflow, InputCheck, compile_workflow
from ._protocols import ExecutorLookup, FormatLookup
from ._strict import strict_errors
from ._structure import structural_errors

PLAN_CACHE_SIZE = 256

WorkflowSource = Workflow | CompiledWorkflow | Source
"""What the engine runs: a document of one of its formats (see ``ir.Source``), an ``ir.Workflow``, or a
workflow it compiled already."""


@dataclass(frozen=True, slots=True)
class Loaded:
    """A workflow document read and checked once (cached by format and content hash)."""

    errors: list[str]
    compiled: CompiledWorkflow | None


class WorkflowLoading:
    """Loading and checking, for a class that has ``registry`` (node types) and ``formats``."""

    registry: ExecutorLookup
    formats: FormatLookup
    _plans: OrderedDict[object, CompiledWorkflow]
    _loaded: dict[tuple[str | None, str], Loaded]

    def input_check_of(self, workflow: Workflow) -> InputCheck | None:
        """The check of a run's inputs for a workflow given as an ``ir.Workflow`` (no format to ask)."""
        raise NotImplementedError

    def load(self, source: WorkflowSource, *, format: str | None = None) -> CompiledWorkflow:
        """Read, check and compile a workflow once, to start it many times: a document of any of the
        engine's formats (a mapping, JSON text, a path, a file; ``format`` names its format, else it is
        detected) or an ``ir.Workflow``. Raises ``InvalidWorkflowError`` listing every problem."""
        if isinstance(source, CompiledWorkflow):
            return source
        if isinstance(source, Workflow):
            return self.compile(source, check_inputs=self.input_check_of(source))
        loaded = self._load(source, format)
        if loaded.compiled is None:
            raise InvalidWorkflowError(loaded.errors)
        return loaded.compiled

    def validate(
        self,
        source: WorkflowSource,
        inputs: Mapping[str, Any] | None = None,
        *,
        format: str | None = None,
        strict: bool = False,
    ) -> ValidationResult:
        """Check a workflow and inputs as flowgram's ``TaskValidate`` does. An unreadable source is an
        invalid one. ``strict`` also refuses what a run would only warn about or fail on when reached (see
        ``strict_errors``)."""
        try:
            compiled = self.load(source, format=format)
            errors = self.strict_errors(compiled) if strict else []
            errors = errors or self.input_errors(compiled, inputs)
        except InvalidWorkflowError as exc:
            errors = exc.errors
        # model_construct: the values are ours and well-typed, and validating them would first build
        # pydantic's validator (most of a CLI run's validate step in a fresh process)
        return ValidationResult.model_construct(valid=not errors, errors=errors or None)

    def strict_errors(self, compiled: CompiledWorkflow) -> list[str]:
        """What a run of ``compiled`` would only warn about, or fail on when it reaches it: node types
        without an executor, refs to nodes that do not exist or are not upstream (or to outputs they do not
        declare), node settings (``retry``, ``timeoutS``, ``cache``) that are malformed. Each names node and
        field."""
        return strict_errors(compiled, self.registry)

    def input_errors(self, compiled: CompiledWorkflow, inputs: Mapping[str, Any] | None) -> list[str]:
        """What is wrong with a run's inputs: numbers JSON cannot carry, then the format's own check."""
        errors = nonfinite_input_errors(inputs)
        if not errors and compiled.check_inputs is not None:
            errors = compiled.check_inputs(inputs or {})
        return errors

    def _load(self, source: Source, format: str | None) -> Loaded:
        document, digest = self.formats.read(source)
        key = (format, digest)
        loaded = self._loaded.get(key)
        if loaded is None:
            with collector_paused():
                try:
                    read = self.formats.load(document, format)
                    compiled = self.compile(
                        read.workflow,
                        cache_key=key,
                        check_inputs=read.check_inputs,
                        lenient_node_types=read.lenient_node_types,
                    )
                    if read.problems:
                        compiled = replace(compiled, warnings=(*read.problems, *compiled.warnings))
                    loaded = Loaded([], compiled)
                except InvalidWorkflowError as exc:
                    loaded = Loaded(exc.errors, None)
            if len(self._loaded) >= PLAN_CACHE_SIZE:
                self._loaded.pop(next(iter(self._loaded)))
            self._loaded[key] = loaded
        return loaded

    def compile(
        self,
        workflow: Workflow,
        cache_key: object | None = None,
        check_inputs: InputCheck | None = None,
        *,
        lenient_node_types: bool = False,
    ) -> CompiledWorkflow:
        """Check ``workflow``'s structure and compile it once; ``cache_key`` (e.g. a content hash) reuses an
        earlier plan. Raises ``InvalidWorkflowError`` naming every problem (duplicate ids, edges to missing
        nodes, cycles, node types without an executor unless ``lenient_node_types``)."""
        if cache_key is not None:
            cached = self._plans.get(cache_key)
            if cached is not None:
                self._plans.move_to_end(cache_key)
                return cached
        errors = structural_errors(workflow, self.registry, lenient_node_types=lenient_node_types)
        if errors:
            raise InvalidWorkflowError(errors)
        compiled = compile_workflow(workflow, self.registry, check_inputs)
        if cache_key is not None:
            self._plans[cache_key] = compiled
            if len(self._plans) > PLAN_CACHE_SIZE:
                self._plans.popitem(last=False)
        return compiled
