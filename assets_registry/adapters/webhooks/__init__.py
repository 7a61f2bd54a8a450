"""Webhook services: validation, mutation and metadata steps run by HTTP services, Rafter's way.

Configured in the configuration file (``[[services]]``, ``config.ServiceConfig``) and built
by the composition root; ``docs/plugins.md`` has the contract.
"""

from assets_registry.adapters.webhooks.config import ServiceConfig
from assets_registry.adapters.webhooks.services import (
    MetadataService,
    MutationService,
    ValidationService,
    make_services,
)

__all__ = ["MetadataService", "MutationService", "ServiceConfig", "ValidationService", "make_services"]
