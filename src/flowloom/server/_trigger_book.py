"""The triggers of saved workflows, read from the store: whoever saved a workflow (this server's
``/api/v1/workflows``, flowengine's ``/api/workflows``, another process) saved it through
``RunStore.save_definition``, so the triggers are read from there, each document loaded through the engine's
formats. What runs a trigger starts carries in its metadata."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from flowloom.engine import CompiledWorkflow, CronSchedule, Engine, InvalidWorkflowError
from flowloom.ir import RunStore, StoreError, Trigger, WorkflowDefinition, trigger_key

logger = logging.getLogger("flowloom.server")
MAX_SAVED_WORKFLOWS = 10_000


@dataclass(frozen=True, slots=True, kw_only=True)
class SavedTrigger:
    """One trigger of one saved workflow, with the workflow compiled to start."""

    workflow_id: str
    workflow_name: str
    index: int
    key: str
    trigger: Trigger
    compiled: CompiledWorkflow
    saved_at: float

    def spec(self) -> dict[str, Any]:
        """The trigger as listed: its fields, a webhook's secret only as whether it has one."""
        fields = self.trigger.model_dump(mode="json", exclude_none=True, exclude={"secret_sha256"})
        if self.trigger.kind == "webhook":
            fields["secret"] = self.trigger.secret_sha256 is not None
        return fields

    def listing(self, last_fired: float | None, now: float) -> dict[str, Any]:
        """What ``GET /api/v1/triggers`` and ``flowloom triggers list`` show of it."""
        found: dict[str, Any] = {
            "workflow_id": self.workflow_id,
            "workflow_name": self.workflow_name,
            "key": self.key,
            "kind": self.trigger.kind,
            "enabled": self.trigger.enabled,
            "spec": self.spec(),
            "last_fired_at": iso(last_fired),
            "next_fire_at": None,
        }
        if self.trigger.kind == "cron" and self.trigger.enabled:
            found["next_fire_at"] = iso(CronSchedule.of(self.trigger).next_after(now))
        return found

    def metadata(self, **details: Any) -> dict[str, Any]:
        """A run's metadata when this trigger started it."""
        return {
            "trigger": {
                "workflow_id": self.workflow_id,
                "key": self.key,
                "kind": self.trigger.kind,
                **details,
            }
        }


def iso(at: float | None) -> str | None:
    if at is None:
        return None
    return dt.datetime.fromtimestamp(at, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class TriggerBook:
    """Reads saved workflows and their triggers; a workflow is loaded again only when it was saved again
    (its ``updated_at`` changed). A saved document that no longer loads (say, a node type gone) has no
    triggers, with a warning in the log."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._loaded: dict[str, tuple[float, list[SavedTrigger]]] = {}

    @property
    def _store(self) -> RunStore:
        if self._engine.store is None:
            raise StoreError("saved workflows and their triggers need a store; this engine has none")
        return self._engine.store

    async def triggers(self) -> list[SavedTrigger]:
        """Every trigger of every saved workflow, oldest workflow first."""
        definitions = await self._store.list_definitions(MAX_SAVED_WORKFLOWS)
        found: list[SavedTrigger] = []
        for definition in definitions:
            found.extend(self._triggers_of(definition))
        kept = {definition.id for definition in definitions}
        for gone in set(self._loaded) - kept:
            del self._loaded[gone]
        return found

    async def workflow(self, workflow_id: str) -> tuple[WorkflowDefinition, CompiledWorkflow] | None:
        """A saved workflow and its compiled form; ``None`` when there is none. Raises
        ``InvalidWorkflowError`` when its document does not load."""
        definition = await self._store.get_definition(workflow_id)
        if definition is None:
            return None
        return definition, self._engine.load(definition.document, format=definition.format)

    def _triggers_of(self, definition: WorkflowDefinition) -> list[SavedTrigger]:
        known = self._loaded.get(definition.id)
        if known is not None and known[0] == definition.updated_at:
            return known[1]
        try:
            compiled = self._engine.load(definition.document, format=definition.format)
        except InvalidWorkflowError as exc:
            logger.warning("saved workflow %r does not load; its triggers are off: %s", definition.id, exc)
            triggers: list[SavedTrigger] = []
        else:
            triggers = [
                SavedTrigger(
                    workflow_id=definition.id,
                    workflow_name=definition.name,
                    index=index,
                    key=trigger_key(trigger, index),
                    trigger=trigger,
                    compiled=compiled,
                    saved_at=definition.updated_at,
                )
                for index, trigger in enumerate(compiled.workflow.triggers)
            ]
        self._loaded[definition.id] = (definition.updated_at, triggers)
        return triggers
