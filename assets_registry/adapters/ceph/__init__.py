"""The ``ceph`` plugin: blobs in Ceph's RADOS Gateway, through its Swift API.

``ceph://CONTAINER[/PREFIX]?auth_url=http://gateway:7480/auth/1.0&user=account:subuser``,
with the key in ``$ST_KEY`` (or ``$OS_PASSWORD`` with Keystone, ``auth_version=3``). The
options are listed in ``OPTIONS`` (and by ``assets-registry plugins``).

This module imports without python-swiftclient: the client is loaded when a store is built,
so a registry that does not use Ceph does not need it installed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from assets_registry.adapters.ceph.config import OPTIONS, CephConfig, parse_config, require_keystone_client
from assets_registry.core.errors import ConfigurationError
from assets_registry.plugins import AdapterContext, AdapterSpec, hookimpl

if TYPE_CHECKING:
    from assets_registry.adapters.ceph.store import CephBlobStore

__all__ = ["OPTIONS", "CephConfig", "assets_registry_adapters", "make_ceph_store", "parse_config"]


def make_ceph_store(context: AdapterContext) -> CephBlobStore:
    """Build the store (creating its containers unless ``create_container=false``)."""
    config = parse_config(context)
    require_keystone_client(config)
    try:
        from assets_registry.adapters.ceph.store import CephBlobStore
    except ImportError as exc:
        if exc.name not in ("swiftclient", "requests", "urllib3") and "swiftclient" not in str(exc):
            raise
        raise ConfigurationError(
            "The ceph:// blob store needs python-swiftclient: pip install 'assets-registry[ceph]'"
        ) from exc
    return CephBlobStore(config)


@hookimpl
def assets_registry_adapters() -> list[AdapterSpec]:
    return [
        AdapterSpec(
            port="blobs",
            scheme="ceph",
            factory=make_ceph_store,
            summary="Blobs in Ceph's RADOS Gateway through its Swift API "
            "(ceph://CONTAINER[/PREFIX]?auth_url=...&user=...; key in $ST_KEY); large blobs as Static Large Objects.",
            options=OPTIONS,
        )
    ]
