"""The sandbox node family: ``sandbox.exec`` (zypi.exec's contract, run locally in bubblewrap),
``zypi.exec`` and ``zypi.session_create`` (a client of Zypi's REST API) and ``api.call`` (a Python script
with its inputs as environment variables, in the local sandbox or through Zypi)."""

from __future__ import annotations

# node type -> (module, class): registered in NodeRegistry.default(), imported on first use
BUILTINS: dict[str, tuple[str, str]] = {
    "sandbox.exec": ("flowloom.nodes.sandboxes.local", "SandboxExecExecutor"),
    "zypi.exec": ("flowloom.nodes.sandboxes.zypi", "ZypiExecExecutor"),
    "zypi.session_create": ("flowloom.nodes.sandboxes.zypi", "ZypiSessionCreateExecutor"),
    "api.call": ("flowloom.nodes.sandboxes.api_call", "ApiCallExecutor"),
}
