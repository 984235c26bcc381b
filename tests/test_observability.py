import pytest

from condividi.observability import valid_traceparent

GOOD = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.mark.parametrize(
    ("header", "kept"),
    [
        (GOOD, GOOD),
        (f" {GOOD} ", GOOD),
        (GOOD.upper(), ""),  # the W3C format is lower-case hex
        ("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", ""),  # version ff is invalid
        ("00-00000000000000000000000000000000-00f067aa0ba902b7-01", ""),  # all-zero trace id
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", ""),  # all-zero parent id
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7", ""),
        ("not a trace", ""),
        ("", ""),
    ],
)
def test_only_well_formed_trace_contexts_are_carried(header: str, kept: str) -> None:
    assert valid_traceparent(header) == kept
