"""Secrets kept out of everything tokbench prints or stores."""

from __future__ import annotations

import re

_USERINFO_PASSWORD = re.compile(r"(://[^:/@\s]+):[^@/\s]*@")


def redact_url(url: str) -> str:
    """The URL with its password (`user:password@`) shown as `***`."""
    return _USERINFO_PASSWORD.sub(r"\1:***@", url)
