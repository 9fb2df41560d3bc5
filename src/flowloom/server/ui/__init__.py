"""The dashboard at ``/ui``: server-rendered pages (Jinja2 templates and htmx) over the public runs API, and
small scripts that follow its event streams. ``ui_router`` is mounted by ``create_app``."""

from __future__ import annotations

from ._pages import mount_ui, ui_router

__all__ = ["mount_ui", "ui_router"]
