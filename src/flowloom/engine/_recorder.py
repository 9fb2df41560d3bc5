"""``RunRecorder``: what an engine writes about its runs to the store besides their journals: the run's row
at its start, end or parking, its waits, and a rejected run. The journal (``_journal.py``) writes node
records and events; this writes the rest."""

from __future__ import annotations

import logging
import time
import weakref
from typing import Any

from flowloom.ir import RunFinished, RunResumed, RunRow, RunStore, RunWaiting, Status, StoreError, WaitRow

from ._plan import CompiledWorkflow
from ._records import RunRecords
from ._resume import workflow_document
from ._run import RunRecording
from ._secretbox import SecretBox
from ._secrets import Masker, WorkflowSecrets
from ._services import Lazy

logger = logging.getLogger("flowloom.engine")


class RunRecorder:
    """Writes run rows for one engine (``owner``) to ``store``."""

    def __init__(
        self, store: RunStore, owner: str, lease_ttl_s: float, secret_box: Lazy[SecretBox] | None = None
    ) -> None:
        self.store = store
        self.owner = owner
        self.lease_ttl_s = lease_ttl_s
        self.secret_box = secret_box  # seals what a resume needs of a run's secrets
        self._documents: weakref.WeakKeyDictionary[CompiledWorkflow, tuple[str, dict[str, Any]]] = (
            weakref.WeakKeyDictionary()
        )
        self._stored_hashes: set[str] = set()

    async def workflow_hash(self, compiled: CompiledWorkflow, secrets: WorkflowSecrets | None = None) -> str:
        """The content hash of ``compiled``'s workflow, stored (once) under it, its secret constants
        (``secrets``) shown as ``***``."""
        known = self._documents.get(compiled)
        if known is None:
            workflow_hash, document = workflow_document(compiled.workflow)
            if secrets is not None and secrets.constants:
                document = Masker(secrets.constants).value(document)
            known = self._documents[compiled] = (workflow_hash, document)
        workflow_hash, document = known
        if workflow_hash not in self._stored_hashes:
            await self.store.put_workflow(workflow_hash, document)
            self._stored_hashes.add(workflow_hash)
        return workflow_hash

    async def start(self, compiled: CompiledWorkflow, records: RunRecords, recording: RunRecording) -> None:
        """The run's row, ``processing`` under this engine's lease (a resumed run's row is updated)."""
        if recording.resumed:
            await self.store.update_run(
                records.run_id, status=Status.PROCESSING, error=None, ended_at=None, started_at=records.start
            )
            return
        now = records.start or time.time()
        await self.store.create_run(
            RunRow(
                id=records.run_id,
                workflow_hash=await self.workflow_hash(compiled, records.secrets),
                status=Status.PROCESSING,
                created_at=now,
                started_at=now,
                inputs=records.shown_inputs(),
                metadata=recording.metadata,
                parent_run_id=recording.parent_run_id,
                owner=self.owner,
                lease_expires_at=now + self.lease_ttl_s,
            )
        )
        if records.secrets:
            await self._seal(compiled, records)

    async def _seal(self, compiled: CompiledWorkflow, records: RunRecords) -> None:
        """Keep what a resume needs of the run's secrets, encrypted: its secret inputs, and its workflow
        whole when that has secret constants (the stored one shows them as ``***``)."""
        if self.secret_box is None:
            raise StoreError("this engine has no secret box: it cannot record a run with secrets")
        vault: dict[str, Any] = {"inputs": records.secret_inputs()}
        if records.secrets.constants:
            vault["workflow"] = workflow_document(compiled.workflow)[1]
        await self.store.put_secrets(records.run_id, self.secret_box.get().seal(vault))

    async def end(self, records: RunRecords, recording: RunRecording) -> None:
        """Write what is left and the run's final state, and let go of the lease. A store that fails now
        leaves the run ``processing`` there (another engine resumes it later); the records say why."""
        recording.journal.event(run_finished(records))
        try:
            await recording.journal.flush()
            await self.store.update_run(
                records.run_id,
                status=records.status,
                outputs=records.shown(records.outputs),
                error=records.shown(records.first_error),
                ended_at=records.end,
            )
            await self.store.release_lease(records.run_id, self.owner)
        except (StoreError, OSError) as exc:
            logger.error("run %s: cannot record its end: %s", records.run_id, exc)
            records.error(f"cannot record the run's end: {exc}")

    async def waiting(self, records: RunRecords, recording: RunRecording, waits: list[WaitRow]) -> bool:
        """Park the run: its records and ``RunWaiting``, then its waits, then its status, then its lease (in
        this order: an answer finds the run ``waiting`` only once its waits are there). False when the store
        failed: the run stays ``processing`` there (resumed later as any orphan) and the records say why."""
        recording.journal.event(run_waiting(records, waits))
        try:
            await recording.journal.flush()
            await self.store.put_waits(waits)
            await self.store.update_run(
                records.run_id,
                status=Status.WAITING,
                outputs=records.shown(records.outputs),
                error=records.shown(records.first_error),
            )
            await self.store.release_lease(records.run_id, self.owner)
        except (StoreError, OSError) as exc:
            logger.error("run %s: cannot record that it waits: %s", records.run_id, exc)
            records.error(f"cannot record that the run waits: {exc}")
            return False
        return True

    async def rejected(self, records: RunRecords, metadata: dict[str, Any]) -> None:
        """A run refused before it started (its inputs did not validate), failed with the messages."""
        try:
            await self.store.create_run(
                RunRow(
                    id=records.run_id,
                    workflow_hash="",
                    status=Status.FAILED,
                    created_at=records.start or time.time(),
                    started_at=records.start,
                    ended_at=records.end,
                    inputs=records.shown_inputs(),
                    error=records.shown(records.first_error),
                    metadata=metadata,
                )
            )
        except (StoreError, OSError) as exc:
            logger.error("run %s: cannot record it: %s", records.run_id, exc)


def run_resumed(answered: WaitRow) -> RunResumed:
    return RunResumed(
        run_id=answered.run_id,
        at=time.time(),
        key=answered.key,
        node_id=answered.node_id,
        payload=answered.payload,
    )


def run_waiting(records: RunRecords, waits: list[WaitRow]) -> RunWaiting:
    return RunWaiting(
        run_id=records.run_id, at=time.time(), waits=records.shown([wait.to_json() for wait in waits])
    )


def run_finished(records: RunRecords) -> RunFinished:
    return RunFinished(
        run_id=records.run_id,
        at=records.end or time.time(),
        status=records.status,
        outputs=records.shown(records.outputs),
        error=records.shown(records.first_error),
    )
