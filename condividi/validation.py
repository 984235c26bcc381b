"""Input checks every API shares, applied at the edge (request models).

Each check also states itself in the OpenAPI document, so that what the schema allows is what the
server accepts: a client generated from the document (or a schema-driven fuzzer) is not refused for
input the document says is fine. A forbidden character is stated as ``not: {pattern: "[...]"}``
rather than as an anchored ``^[^...]*$``: the same constraint, but one that tools generating strings
up to a long ``maxLength`` handle quickly.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

# Unicode's control characters (category Cc): C0, DEL and C1.
CONTROL_CHARACTER = "[\\u0000-\\u001f\\u007f-\\u009f]"
NUL = "\\u0000"
# Nothing but white space (what ``str.strip()`` empties), forbidden where a value may not be blank.
BLANK = "^\\s*$"


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


@dataclass(frozen=True)
class TextCheck:
    """A check run after a string is validated, stated in the schema by ``forbidden``: a pattern the
    value may not match (``not: {pattern}``). Pydantic does not enforce it: the check does, and the
    model's own validators, with their own words."""

    check: Callable[[str], str]
    forbidden: str

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self.check, handler(source))

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        json_schema = handler.resolve_ref_schema(handler(schema))
        json_schema["not"] = {"pattern": self.forbidden}
        return json_schema

    def not_blank(self) -> TextCheck:
        """The same check, stating that the field also refuses a blank value (which the model's own
        validator refuses, in its words)."""
        return TextCheck(self.check, f"{self.forbidden}|{BLANK}")


# For one-line fields (names, titles, handles).
SingleLine = TextCheck(no_control_characters, CONTROL_CHARACTER)
# For free text that may hold line breaks (posts, summaries).
StoredText = TextCheck(no_nul, NUL)
