"""Output ports of node types whose nodes have only the default one."""

from __future__ import annotations

from flowloom.ir import DEFAULT_OUTPUT_PORT, Node

_DEFAULT = (DEFAULT_OUTPUT_PORT,)


class DefaultOutputPort:
    """Declares the one output port, ``defaultOutput``: an edge from another port is refused when the
    workflow is checked (see ``flowloom.engine.DeclaresPorts``)."""

    def output_ports(self, node: Node) -> tuple[str, ...]:
        return _DEFAULT
