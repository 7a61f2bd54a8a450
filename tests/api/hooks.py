"""Schemathesis hooks for this suite (``SCHEMATHESIS_HOOKS=hooks``, run from this folder).

tus's ``application/offset+octet-stream`` bodies (``/uploads/``) are raw bytes: schemathesis
generates them as such once told the media type.
"""

from __future__ import annotations

import schemathesis
from hypothesis import strategies as st

schemathesis.openapi.media_type("application/offset+octet-stream", st.binary(max_size=4096))
