"""The errors of bundles and of the bundle registry."""

from __future__ import annotations

from flowloom.ir import FlowloomError


class BundleError(FlowloomError, ValueError):
    """A ``.flow`` bundle that is refused (a bad manifest, an unsafe or oversized member, a flow it lacks),
    or a pack that cannot be made. The message names the bundle and what is wrong where."""


class BundleRegistryError(BundleError):
    """A registry operation that cannot be done: an unknown or ambiguous reference, an id or version with
    unsafe characters, a version installed already."""


class BundleNotFoundError(BundleRegistryError):
    """A reference that names no installed bundle, version or entrypoint."""


class BundleInstalledError(BundleRegistryError):
    """An install of a bundle version that is installed already (without ``overwrite``)."""
