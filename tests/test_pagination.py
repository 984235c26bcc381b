"""Cursors come back from clients: anything ``decode_cursor`` cannot use is a 400, never a failure later in
the driver or the database (the endpoints' own tests send these through HTTP)."""

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from condividi.errors import ApiError
from condividi.pagination import decode_cursor, encode_cursor

ROW = "0b8e2a0e-1c1d-4f4e-9a55-6d1f3b2a9c01"


def forge(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


# Each is a cursor a stranger can send: the out-of-range dates exist in Python but not in UTC.
FORGED = {
    "year 1 east of UTC": forge(["0001-01-01T00:00:00+14:00", ROW]),
    "year 9999 west of UTC": forge(["9999-12-31T23:59:59-14:00", ROW]),
    "naive time": forge(["2026-01-01T00:00:00", ROW]),
    "not a time": forge(["yesterday", ROW]),
    "id not a uuid": forge(["2026-01-01T00:00:00+00:00", "x"]),
    "id a number": forge(["2026-01-01T00:00:00+00:00", 5]),
    "three parts": forge(["2026-01-01T00:00:00+00:00", ROW, ROW]),
    "an object": forge({"at": "2026-01-01T00:00:00+00:00", "id": ROW}),
    "a string": forge("2026-01-01T00:00:00+00:00"),
    "null": forge(None),
    "deeply nested": forge([[[[[[[[]]]]]]]]),
    "not json": base64.urlsafe_b64encode(b"\xff\xfe[").decode(),
    "not base64": "garbage!",
    "not ascii": "é",
    "too long": forge(["2026-01-01T00:00:00+00:00", ROW + " " * 300]),
    "empty list": forge([]),
}


@pytest.mark.parametrize("cursor", FORGED.values(), ids=FORGED.keys())
def test_a_cursor_it_cannot_use_is_invalid(cursor: str) -> None:
    with pytest.raises(ApiError) as caught:
        decode_cursor(cursor)
    assert (caught.value.status, caught.value.code) == (400, "invalid_cursor")


def test_a_cursor_it_handed_out_reads_back_in_utc() -> None:
    at = datetime(2026, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=2)))
    row = uuid.UUID(ROW)
    assert decode_cursor(encode_cursor(at, row)) == (at, row)
    assert decode_cursor(encode_cursor(at, row))[0].tzinfo is UTC
    # The ends of the calendar in UTC are fine: PostgreSQL's timestamptz holds them.
    assert decode_cursor(forge(["0001-01-01T00:00:00+00:00", ROW]))[0].year == 1
