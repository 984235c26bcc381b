"""``gateway/schema.graphql``: the schema as clients see it, checked in so that a change to it shows in
review and clients can generate code from it. ``make schema`` writes it; ``test_schema_file.py`` fails
when the code's schema and the file differ."""

from __future__ import annotations

import sys
from pathlib import Path

from gateway.schema import build_schema

SCHEMA_FILE = Path(__file__).with_name("schema.graphql")


def printed() -> str:
    return build_schema().as_str() + "\n"


def main() -> None:
    SCHEMA_FILE.write_text(printed(), encoding="utf-8")
    sys.stdout.write(f"wrote {SCHEMA_FILE}\n")


if __name__ == "__main__":
    main()
