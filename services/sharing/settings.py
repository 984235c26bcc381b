from pydantic import Field, model_validator

from condividi.settings import ServiceSettings

DEVELOPMENT_SALT = "development-salt-change-me"


class SharingSettings(ServiceSettings):
    SERVICE_NAME: str = "sharing"
    # Where tracking links live: ``{PUBLIC_BASE_URL}/r/{code}`` (a custom short-link domain in production).
    PUBLIC_BASE_URL: str = "http://localhost:8003"
    # Salts the visitor hash of clicks, so it cannot be reversed to an IP by trying all addresses.
    # Production sets its own secret; rotating it starts a new count of unique visitors.
    CLICK_HASH_SALT: str = DEVELOPMENT_SALT
    # For the items a share refers to before ``ContentPublished`` has reached this service.
    CONTENT_SERVICE_URL: str = "http://localhost:8001"
    # Links are immutable once made, so the click redirect keeps this many in memory.
    LINK_CACHE_SIZE: int = 100_000
    # Without an Idempotency-Key, sharing an item to a network again within this many hours of an
    # earlier share's publication answers 409 duplicate_share (an accidental second click, most often).
    DUPLICATE_SHARE_WINDOW_HOURS: float = Field(default=24, ge=0)
    # At shutdown, the clicks still queued are written for up to this long (through a database
    # failover, if one is under way), before the outbox relay drains (OUTBOX_DRAIN_SECONDS).
    CLICK_DRAIN_SECONDS: float = 10.0
    # A share still waiting for policy's decision this long after it was asked is asked again
    # (services/sharing/redrive.py); each replica looks every SHARE_REDRIVE_INTERVAL_SECONDS.
    SHARE_POLICY_TIMEOUT_SECONDS: float = Field(default=300, gt=0)
    SHARE_REDRIVE_INTERVAL_SECONDS: float = Field(default=30, gt=0)

    @model_validator(mode="after")
    def _real_salt_outside_development(self) -> "SharingSettings":
        # A known salt lets anyone who reads the events test guessed IPs against the visitor hashes.
        if self.ENVIRONMENT != "development" and self.CLICK_HASH_SALT == DEVELOPMENT_SALT:
            raise ValueError("set CLICK_HASH_SALT to a secret of your own outside development")
        return self
