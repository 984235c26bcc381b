import ipaddress

from pydantic import Field, field_validator

from condividi.safe_fetch import FetchPolicy
from condividi.settings import ServiceSettings


class ContentSettings(ServiceSettings):
    SERVICE_NAME: str = "content"

    # Link previews (docs/content.md): how often each replica looks for previews to fetch, how many at once.
    PREVIEW_POLL_SECONDS: float = 2.0
    PREVIEW_CONCURRENCY: int = 4
    PREVIEW_FETCH_TIMEOUT_SECONDS: float = 10.0
    PREVIEW_FETCH_MAX_BYTES: int = 2 * 1024 * 1024
    # TESTS ONLY: networks (CIDR, comma-separated) fetched from although they are not public, so that
    # tests can serve pages on loopback. Empty in every deployment: anything here is reachable by SSRF.
    PREVIEW_FETCH_ALLOWED_NETWORKS: str = ""

    @field_validator("PREVIEW_FETCH_ALLOWED_NETWORKS")
    @classmethod
    def _networks(cls, value: str) -> str:
        for entry in (e.strip() for e in value.split(",") if e.strip()):
            try:
                ipaddress.ip_network(entry)
            except ValueError:
                raise ValueError(f"{entry!r} is not a CIDR range (such as 127.0.0.1/32)") from None
        return value

    def preview_fetch_policy(self) -> FetchPolicy:
        networks = tuple(
            ipaddress.ip_network(e.strip()) for e in self.PREVIEW_FETCH_ALLOWED_NETWORKS.split(",") if e.strip()
        )
        return FetchPolicy(
            allowed_networks=networks,
            timeout_seconds=self.PREVIEW_FETCH_TIMEOUT_SECONDS,
            max_bytes=self.PREVIEW_FETCH_MAX_BYTES,
        )

    # How often each replica publishes due scheduled items and expires items past their expiry
    # (services/content/scheduler.py): an item appears at most this late after its publish_at.
    SCHEDULER_INTERVAL_SECONDS: float = Field(default=10, gt=0)
