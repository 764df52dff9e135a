"""``raises``: the check behind every error-message test."""

from __future__ import annotations

import pytest


def raises(error, fn, *fragments):
    """Call ``fn``, expect ``error``, and check every fragment appears in the message; return it."""
    with pytest.raises(error) as info:
        fn()
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message
