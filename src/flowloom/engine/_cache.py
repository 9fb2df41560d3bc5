"""The result cache: a node with ``cache: {ttl_s}`` reuses the outputs of an earlier execution with the same
node type, data and resolved inputs. Entries live in the engine's store (shared by processes), or in memory
when the engine has none."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from flowloom.ir import CacheEntry, RunStore

from ._protocols import NodeResult

PRUNE_INTERVAL_S = 300.0


def cache_key(node_type: str, data: Any, inputs: Any) -> str | None:
    """sha256 over canonical JSON of (node type, data, inputs); ``None`` if they are not JSON (no caching)."""
    try:
        text = json.dumps(
            [node_type, data, inputs],
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
            allow_nan=False,
        )
    except (TypeError, ValueError):
        return None
    return hashlib.sha256(text.encode()).hexdigest()


class ResultCache:
    """Cached node results, by key. Expired entries are pruned every ``PRUNE_INTERVAL_S`` at most."""

    def __init__(self, store: RunStore | None) -> None:
        self._store = store
        self._memory: dict[str, CacheEntry] = {}
        self._next_prune = 0.0

    async def get(self, key: str) -> NodeResult | None:
        now = time.time()
        if self._store is not None:
            entry = await self._store.get_cache(key, now)
        else:
            entry = self._memory.get(key)
            entry = entry if entry is not None and entry.live(now) else None
        if entry is None or not isinstance(entry.value, dict):
            return None
        outputs = entry.value.get("outputs")
        return NodeResult(
            outputs=outputs if isinstance(outputs, dict) else {}, branch=entry.value.get("branch")
        )

    async def put(self, key: str, result: NodeResult, ttl_s: float | None) -> None:
        """Keep ``result`` (unless its outputs are not JSON: those are never cached)."""
        value = {"outputs": dict(result.outputs), "branch": result.branch}
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):
            return
        now = time.time()
        entry = CacheEntry(
            key=key, value=value, created_at=now, expires_at=None if ttl_s is None else now + ttl_s
        )
        if self._store is not None:
            await self._store.put_cache(entry)
        else:
            self._memory[key] = entry
        if now >= self._next_prune:
            self._next_prune = now + PRUNE_INTERVAL_S
            await self.prune(now)

    async def prune(self, now: float) -> int:
        if self._store is not None:
            return await self._store.prune_cache(now)
        expired = [key for key, entry in self._memory.items() if not entry.live(now)]
        for key in expired:
            del self._memory[key]
        return len(expired)
