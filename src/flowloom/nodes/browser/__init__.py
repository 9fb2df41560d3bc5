"""The browser node family: ``browser.render``, a page rendered by a real headless Chromium (Playwright
driving the system's ``chromium``), kept warm across nodes and closed with the engine."""

from __future__ import annotations

from ._chromium import Chromium

__all__ = ["BUILTINS", "Chromium"]

# node type -> (module, class): registered in NodeRegistry.default(), imported on first use
BUILTINS: dict[str, tuple[str, str]] = {
    "browser.render": ("flowloom.nodes.browser.render", "BrowserRenderExecutor"),
}
