"""Relay's pure parts: global ids, cursors and the page arguments, without HTTP."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from gateway.errors import GatewayError
from gateway.relay import (
    from_global_id,
    global_id_of,
    list_connection,
    page_request,
    to_global_id,
)


def test_global_ids_round_trip_and_refuse_anything_else() -> None:
    raw = uuid.uuid4()
    value = to_global_id("Share", raw)

    assert str(raw) not in value  # opaque
    assert from_global_id(value) == ("Share", raw)
    assert global_id_of("Share", value) == raw
    assert global_id_of("ContentItem", value) is None
    for bad in ("", "%%%", "U2hhcmU6bm90LWEtdXVpZA", str(raw), "Zm9v"):
        assert from_global_id(bad) is None, bad


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"first": 1, "last": 1}, "last"),
        ({"first": 0}, "first"),
        ({"first": 101}, "first"),
        ({"last": -1}, "last"),
        ({"last": 2, "after": "c"}, "after"),
        ({"first": 2, "before": "c"}, "first"),
        ({"before": "c", "after": "c"}, "after"),
    ],
)
def test_page_arguments_that_make_no_sense_are_refused(args: dict[str, Any], field: str) -> None:
    values: dict[str, Any] = {"first": None, "after": None, "last": None, "before": None, **args}
    with pytest.raises(GatewayError) as refused:
        page_request("feed", **values)
    assert refused.value.code == "validation_failed"
    assert refused.value.details[0]["loc"] == [field]


def test_page_arguments_default_to_twenty_forward() -> None:
    request = page_request("feed", first=None, after=None, last=None, before=None)
    assert (request.size, request.backward, request.cursor) == (20, False, None)
    backward = page_request("feed", first=None, after=None, last=None, before="c")
    assert (backward.size, backward.backward, backward.cursor) == (20, True, "c")


LETTERS = list("abcde")


def slice_of(**args: Any) -> tuple[list[str], bool, bool, list[str]]:
    values: dict[str, Any] = {"first": None, "after": None, "last": None, "before": None, **args}
    connection = list_connection(page_request("letters", **values), LETTERS, lambda x: x, lambda x: x)
    info = connection.page_info
    return (
        [e.node for e in connection.edges],
        info.has_previous_page,
        info.has_next_page,
        [e.cursor for e in connection.edges],
    )


def test_a_short_list_is_sliced_with_relays_algorithm() -> None:
    nodes, previous, following, cursors = slice_of(first=2)
    assert (nodes, previous, following) == (["a", "b"], False, True)
    assert slice_of(first=2, after=cursors[1])[:3] == (["c", "d"], True, True)
    assert slice_of(first=9, after=cursors[0])[:3] == (["b", "c", "d", "e"], True, False)
    assert slice_of(last=2)[:3] == (["d", "e"], True, False)
    assert slice_of(last=9, before=cursors[1])[:3] == (["a"], False, True)
    assert slice_of(last=1, before=cursors[1])[:3] == (["a"], False, True)
    empty = list_connection(page_request("letters", first=3, after=None, last=None, before=None), [], str, str)
    assert (empty.edges, empty.page_info.start_cursor, empty.page_info.end_cursor) == ([], None, None)


def test_a_cursor_of_another_list_or_a_forged_one_is_invalid() -> None:
    cursors = slice_of(first=1)[3]
    other = list_connection(page_request("feed", first=1, after=None, last=None, before=None), LETTERS, str, str)
    for cursor in (other.edges[0].cursor, "not-a-cursor", cursors[0][:-2]):
        with pytest.raises(GatewayError) as refused:
            slice_of(first=1, after=cursor)
        assert (refused.value.code, refused.value.status) == ("invalid_cursor", 400)
