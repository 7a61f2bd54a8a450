"""A Python client of the registry's HTTP API, on httpx: ``RegistryClient``.

Methods answer the model's dataclasses (``core.model.Asset``) and small records of their own;
lists are iterators that fetch page after page (``X-Next-Cursor``); uploads and downloads
stream and report progress; a file download resumes where a partial copy ends (``Range``);
a 503 is tried again after its ``Retry-After`` (bounded). Errors are ``ApiError`` with the
server's status, machine-readable ``code`` and ``detail``. ``docs/client.md`` has examples.
"""

from __future__ import annotations

from assets_registry.client.api import ApiError, RegistryClient, UploadStatus

__all__ = ["ApiError", "RegistryClient", "UploadStatus"]
