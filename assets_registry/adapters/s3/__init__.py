"""The ``s3`` plugin: blobs as objects in a bucket of AWS S3 or any S3-compatible server.

``s3://BUCKET[/PREFIX]?endpoint_url=http%3A%2F%2F127.0.0.1%3A8333&region=us-east-1&create_bucket=true``

This module imports without boto3, so that ``assets-registry plugins`` can list the adapter
on an installation without the ``s3`` extra; the store module, which needs boto3, is
imported by the factory, when an ``s3://`` URL is actually configured.
"""

from __future__ import annotations

from assets_registry.adapters.s3.config import OPTIONS, S3Config, parse_s3_url
from assets_registry.core.errors import ConfigurationError
from assets_registry.core.ports import BlobStore
from assets_registry.plugins import AdapterContext, AdapterSpec, hookimpl

__all__ = ["S3Config", "make_s3_store", "parse_s3_url"]

_CLIENT_PACKAGES = ("boto3", "botocore", "s3transfer")


def make_s3_store(context: AdapterContext) -> BlobStore:
    """Build the store of an ``s3://`` URL; refuse a bad URL or a missing boto3 with a sentence."""
    config = parse_s3_url(context.url, context.environ)
    try:
        from assets_registry.adapters.s3.store import open_store
    except ImportError as exc:
        if (exc.name or "").partition(".")[0] not in _CLIENT_PACKAGES:
            raise
        raise ConfigurationError(
            f"The s3:// blob store needs boto3, which is not installed ({exc.name}): pip install 'assets-registry[s3]'."
        ) from None
    return open_store(config)


@hookimpl
def assets_registry_adapters() -> list[AdapterSpec]:
    return [
        AdapterSpec(
            port="blobs",
            scheme="s3",
            factory=make_s3_store,
            summary="Blobs as objects in an S3 bucket: AWS, SeaweedFS, MinIO, Ceph RGW... "
            "(s3://BUCKET[/PREFIX]?endpoint_url=...; credentials from the URL or the AWS chain).",
            options=OPTIONS,
        )
    ]
