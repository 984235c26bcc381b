from pydantic import Field

from condividi.settings import ServiceSettings


class ContentSettings(ServiceSettings):
    SERVICE_NAME: str = "content"
    # How often each replica publishes due scheduled items and expires items past their expiry
    # (services/content/scheduler.py): an item appears at most this late after its publish_at.
    SCHEDULER_INTERVAL_SECONDS: float = Field(default=10, gt=0)
