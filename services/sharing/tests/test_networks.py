from urllib.parse import parse_qs, urlsplit

import pytest

from condividi.networks import NETWORKS, Network
from services.sharing.networks import INTENT_BUILDERS, intent_url

LINK = "https://go.acme.example/r/AbCdEfGh"


def test_every_network_of_the_table_can_be_shared_to() -> None:
    """A network in the one table with neither an intent link nor a publisher would be offered to
    employees and then fail at the share."""
    missing = [n for n, spec in NETWORKS.items() if n not in INTENT_BUILDERS and not spec.api_publisher]
    assert missing == []
    assert set(INTENT_BUILDERS) <= set(NETWORKS), "an intent link for a network the table does not offer"


@pytest.mark.parametrize("network", list(NETWORKS))
def test_intent_links_carry_the_tracking_link_and_keep_text_as_the_table_says(network: Network) -> None:
    url = intent_url(network, text="Proud of this", url=LINK, title="Our plant")
    parts = urlsplit(url)
    assert parts.scheme == "https"
    values = [v for vs in parse_qs(parts.query).values() for v in vs]
    assert any(LINK in v for v in values), url
    carries_text = any("Proud of this" in v for v in values)
    assert carries_text is NETWORKS[network].intent_keeps_text, url
