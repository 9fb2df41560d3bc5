"""The automation node family (flowengine's node library): ``shell.exec``, ``http.request``,
``transform.json_parse``, ``transform.json_stringify``, ``time.delay``, ``debug.log``. Each declares its
config keys and ports (``metadata``) and checks a node's config before the run (``config_errors``)."""

from __future__ import annotations

# node type -> (module, class): registered in NodeRegistry.default(), imported on first use
BUILTINS: dict[str, tuple[str, str]] = {
    "shell.exec": ("flowloom.nodes.automation.shell", "ShellExecExecutor"),
    "http.request": ("flowloom.nodes.automation.http", "HttpRequestExecutor"),
    "transform.json_parse": ("flowloom.nodes.automation.transform", "JsonParseExecutor"),
    "transform.json_stringify": ("flowloom.nodes.automation.transform", "JsonStringifyExecutor"),
    "time.delay": ("flowloom.nodes.automation.delay", "DelayExecutor"),
    "debug.log": ("flowloom.nodes.automation.debug", "DebugLogExecutor"),
}
