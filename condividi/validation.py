"""Input checks every API shares, applied at the edge (request models)."""

from __future__ import annotations

import unicodedata

from pydantic import AfterValidator


def no_control_characters(value: str) -> str:
    # No name, title or handle legitimately holds a control character, and PostgreSQL refuses NUL in
    # text: a 422 here keeps such input from becoming a 500 at the INSERT.
    if any(unicodedata.category(char) == "Cc" for char in value):
        raise ValueError("control characters are not allowed")
    return value


def no_nul(value: str) -> str:
    # Posts and summaries may span lines, but PostgreSQL cannot store NUL.
    if "\x00" in value:
        raise ValueError("the NUL character is not allowed")
    return value


# For one-line fields (names, titles, handles).
SingleLine = AfterValidator(no_control_characters)
# For free text that may hold line breaks (posts, summaries).
StoredText = AfterValidator(no_nul)
