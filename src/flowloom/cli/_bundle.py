"""``flowloom bundle``: pack, inspect, unpack ``.flow`` bundles, and install, list, remove them in a
registry folder (``--dir``, default ``$FLOWLOOM_BUNDLES_DIR`` or the data directory's ``bundles``). A
refused bundle or reference is a one-line error, exit 2."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ._output import console, fail_usage

if TYPE_CHECKING:
    from flowloom.bundles import BundleManifest

# each command imports flowloom.bundles itself: the other commands start without it

bundle_app = typer.Typer(
    name="bundle",
    help=".flow bundles: pack, inspect, unpack; install, list, remove in a registry folder.",
    no_args_is_help=True,
)

DirOption = Annotated[
    Path | None,
    typer.Option(
        "--dir",
        envvar="FLOWLOOM_BUNDLES_DIR",
        help="The registry folder [default: bundles in your data directory]",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON on stdout and nothing else.")]


def _print(value: Any) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False) + "\n")


def _summary(manifest: BundleManifest) -> str:
    flows = ", ".join(sorted(manifest.flows)) or "none"
    return f"{manifest.ref}: entrypoints {[e.flow_id for e in manifest.entrypoints]}, flows {flows}"


@bundle_app.command()
def pack(
    root: Annotated[Path, typer.Argument(help="The root VisualFlow JSON file.", show_default=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="The .flow file to write.", show_default=False)],
    bundle_id: Annotated[
        str | None,
        typer.Option("--id", help="The bundle id [default: the root flow's id]", show_default=False),
    ] = None,
    version: Annotated[
        str | None, typer.Option("--version", help="The bundle version [default: 0.0.0]")
    ] = None,
    flows_dir: Annotated[
        Path | None,
        typer.Option(help="Where subflows are looked up as <flow id>.json [default: the root's folder]"),
    ] = None,
    entrypoint: Annotated[
        list[str] | None,
        typer.Option("--entrypoint", help="A flow id to expose (repeatable) [default: the root]"),
    ] = None,
    asset: Annotated[
        list[str] | None,
        typer.Option("--asset", help="NAME=PATH: a file to pack as assets/NAME (repeatable)"),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Pack a root flow and every subflow its runs can reach into a .flow bundle."""
    from flowloom.bundles import BundleError, pack_workflow_bundle

    assets: dict[str, str] = {}
    for item in asset or []:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise fail_usage(f"--asset {item!r}: expected NAME=PATH")
        assets[name] = path
    try:
        packed = pack_workflow_bundle(
            root,
            out,
            bundle_id=bundle_id,
            bundle_version=version,
            flows_dir=flows_dir,
            entrypoints=entrypoint,
            assets=assets,
        )
    except BundleError as exc:
        raise fail_usage(str(exc)) from None
    if as_json:
        _print({"path": str(packed.path), "manifest": packed.manifest.to_json()})
        return
    console().print(f"packed {_summary(packed.manifest)} -> {packed.path}", highlight=False, markup=False)


@bundle_app.command()
def inspect(
    bundle: Annotated[Path, typer.Argument(help="A .flow file or a bundle folder.", show_default=False)],
    as_json: JsonOption = False,
) -> None:
    """Check a bundle (manifest, member names and sizes) and print its manifest."""
    from flowloom.bundles import BundleError, inspect_workflow_bundle

    try:
        manifest = inspect_workflow_bundle(bundle)
    except BundleError as exc:
        raise fail_usage(str(exc)) from None
    if as_json:
        _print(manifest.to_json())
        return
    console().print_json(json.dumps(manifest.to_json(), ensure_ascii=False))


@bundle_app.command()
def unpack(
    bundle: Annotated[Path, typer.Argument(help="A .flow file.", show_default=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="The folder to extract into.", show_default=False)],
) -> None:
    """Extract a .flow bundle into a folder (checked first; nothing is written outside the folder)."""
    from flowloom.bundles import BundleError, unpack_workflow_bundle

    try:
        where = unpack_workflow_bundle(bundle, out)
    except BundleError as exc:
        raise fail_usage(str(exc)) from None
    console().print(f"unpacked {bundle} -> {where}", highlight=False, markup=False)


@bundle_app.command()
def install(
    bundle: Annotated[Path, typer.Argument(help="A .flow file.", show_default=False)],
    bundles_dir: DirOption = None,
    overwrite: Annotated[bool, typer.Option(help="Replace the same version if installed.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Install a .flow bundle in the registry (as <id>@<version>.flow)."""
    from flowloom.bundles import BundleError, WorkflowBundleRegistry

    try:
        installed = WorkflowBundleRegistry(bundles_dir).install(bundle, overwrite=overwrite)
    except BundleError as exc:
        raise fail_usage(str(exc)) from None
    except OSError as exc:
        raise fail_usage(f"cannot install {bundle}: {exc.strerror or exc}") from None
    if as_json:
        _print({"installed": installed.to_json(), "path": str(installed.path)})
        return
    console().print(f"installed {installed.ref} -> {installed.path}", highlight=False, markup=False)


@bundle_app.command("list")
def list_bundles(bundles_dir: DirOption = None, as_json: JsonOption = False) -> None:
    """The installed bundles, every version, with their entrypoints."""
    from flowloom.bundles import WorkflowBundleRegistry

    installed = WorkflowBundleRegistry(bundles_dir).scan()
    if as_json:
        _print([bundle.to_json() for bundle in installed])
        return
    out = console()
    for bundle in installed:
        for entry in bundle.manifest.entrypoints:
            mark = " (default)" if entry.flow_id == bundle.manifest.default_entrypoint else ""
            line = f"{bundle.ref}:{entry.flow_id}{mark}  {entry.name or ''}"
            out.print(line.rstrip(), highlight=False, markup=False)


@bundle_app.command()
def remove(
    ref: Annotated[str, typer.Argument(help="ID (every version) or ID@VERSION.", show_default=False)],
    bundles_dir: DirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Remove installed bundles: one version, or every version of an id."""
    from flowloom.bundles import BundleError, WorkflowBundleRegistry

    try:
        removed = WorkflowBundleRegistry(bundles_dir).remove(ref)
    except (BundleError, OSError) as exc:
        raise fail_usage(str(exc)) from None
    if as_json:
        _print({"removed": removed})
        return
    console().print(f"removed {removed} bundle file(s)", highlight=False, markup=False)
