"""``flowloom run TARGET`` when TARGET is a bundle: a ``.flow`` zip or a folder with
``manifest.json`` (its default entrypoint), or a reference to an installed entrypoint (``id[@ver][:flow]``,
an installed ``.flow`` file name, an entrypoint name) resolved in ``--bundles-dir``."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from flowloom.engine import Engine, InvalidWorkflowError, Run
from flowloom.ir import RunStore, StoreError

from ._checks import Refused, check
from ._inputs import UsageProblem
from ._interrupt import interrupted
from ._output import exit_code, fail_usage, print_json, print_outcome, run_in
from ._workers import workers_address

if TYPE_CHECKING:
    from flowloom.bundles import BundleFlows, WorkflowBundle

# flowloom.bundles is imported only when a bundle runs: a plain `flowloom run FILE.json` starts faster
_ZIP_MAGIC = b"PK\x03\x04"

BundlesDirOption = Annotated[
    Path | None,
    typer.Option(
        "--bundles-dir",
        envvar="FLOWLOOM_BUNDLES_DIR",
        help="The registry of installed bundles that a reference (id[@version][:flow]) is resolved in "
        "[default: bundles in your data directory]",
        show_default=False,
    ),
]


@dataclass(frozen=True, slots=True)
class BundleTarget:
    """One entrypoint of one opened bundle."""

    bundle: WorkflowBundle
    flow_id: str

    @property
    def label(self) -> str:
        """How messages name what runs: ``id@version:flow``."""
        return f"{self.bundle.manifest.ref}:{self.flow_id}"

    def document(self) -> dict[str, Any]:
        """The entrypoint's VisualFlow, carrying the bundle's flows it starts as subflows (``BundleError``
        naming the file when the bundle lacks one)."""
        return self.flows().with_subflows(self.flow_id)

    def flows(self) -> BundleFlows:
        """The bundle's flows by id, for the subflow executor."""
        from flowloom.bundles import BundleFlows

        return BundleFlows(self.bundle)

    def metadata(self) -> dict[str, Any]:
        """Recorded with the run: which bundle, version and flow it ran, and from where."""
        from flowloom.bundles import bundle_run_metadata

        return bundle_run_metadata(self.bundle, self.flow_id)


def bundle_target(target: Path, bundles_dir: Path | None) -> BundleTarget | None:
    """The bundle entrypoint ``target`` names, or None when it is a workflow file (or a path that does not
    exist, which the file reader reports). ``UsageProblem`` when the bundle or the reference is refused."""
    if target.is_dir():
        is_bundle = (target / "manifest.json").is_file()
    elif target.is_file():
        is_bundle = target.suffix.lower() == ".flow" or _starts_like_a_zip(target)
    else:
        text = str(target)
        is_bundle = not (target.suffix.lower() == ".json" or "/" in text or "\\" in text)
    if not is_bundle:
        return None
    from flowloom.bundles import BundleError

    try:
        return _open_target(target, bundles_dir)
    except BundleError as exc:
        raise UsageProblem(str(exc)) from None


def _open_target(target: Path, bundles_dir: Path | None) -> BundleTarget:
    from flowloom.bundles import BundleError, WorkflowBundleRegistry, open_workflow_bundle

    if target.exists():
        bundle = open_workflow_bundle(target)
        return BundleTarget(bundle, bundle.manifest.entrypoint().flow_id)
    try:
        found = WorkflowBundleRegistry(bundles_dir).resolve_entrypoint(str(target))
    except BundleError as exc:
        raise BundleError(f"{exc} (and there is no file {target})") from exc
    return BundleTarget(found.open(), found.flow_id)


def _starts_like_a_zip(path: Path) -> bool:
    try:
        with path.open("rb") as file:
            return file.read(4) == _ZIP_MAGIC
    except OSError:
        return False  # the file reader says why


def run_bundle(
    target: BundleTarget,
    values: dict[str, Any],
    url: str | None,
    as_json: bool,
    jsonl: bool,
    workflow_format: str | None,
    workers: str | None,
) -> int:
    """Run a bundle's entrypoint (as ``run`` runs a file); the exit code."""
    from flowloom.bundles import BundleError

    label = Path(target.label)
    workflow_format = workflow_format or "visualflow"
    try:
        document = target.document()
        engine = Engine(
            store=_memory_store() if url is None and jsonl else url, workers=workers_address(workers)
        )
        checked = check(engine, label, values, format=workflow_format, source=document)
    except (InvalidWorkflowError, StoreError, BundleError) as exc:
        raise fail_usage(str(exc)) from None
    if isinstance(checked, Refused):
        if as_json or jsonl:
            print_json(engine.start_rejected(checked.errors, values))
        raise fail_usage(checked.message)
    run_id = str(uuid.uuid4())
    metadata = target.metadata()

    async def start() -> Run:
        if jsonl:
            from ._events import run_jsonl

            return await run_jsonl(engine, checked, values, run_id=run_id, metadata=metadata)
        run = engine.start(checked, values, run_id=run_id, metadata=metadata)
        await run.join()
        return run

    try:
        finished = run_in(engine, start, as_json or jsonl)
    except KeyboardInterrupt:
        raise interrupted(run_id, recorded=engine.store is not None) from None
    if jsonl:
        return exit_code(finished)
    if as_json:
        print_json(finished)
    else:
        print_outcome(finished)
    return exit_code(finished)


def _memory_store() -> RunStore:
    from flowloom.stores import MemoryStore  # only for --jsonl without a store: not on every start

    return MemoryStore()
