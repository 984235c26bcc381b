from typing import Literal

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
    # A visitor's further clicks on a link within this many seconds of their counted one are answered
    # but not counted (0 counts every click).
    CLICK_REPEAT_WINDOW_SECONDS: float = Field(default=1800, ge=0)
    # Counted clicks allowed per minute from one client address, and on one link (0: no limit).
    CLICK_RATE_PER_VISITOR_PER_MINUTE: float = Field(default=30, ge=0)
    CLICK_RATE_PER_LINK_PER_MINUTE: float = Field(default=3000, ge=0)
    # Memory the repeat window and the rate limits may hold, in bytes; when full the oldest entries go.
    CLICK_FILTER_MEMORY_BYTES: int = Field(default=64 * 1024 * 1024, ge=0)
    # Memory the crawler verdicts (by user agent) may hold, in bytes.
    CRAWLER_CACHE_BYTES: int = Field(default=4 * 1024 * 1024, ge=0)
    # User agents not seen before that one client address may have matched against the crawler list per
    # minute (each costs up to 2 ms); past them its new user agents are not counted (0: no limit).
    CRAWLER_CHECKS_PER_ADDRESS_PER_MINUTE: float = Field(default=60, ge=0)
    # Without an Idempotency-Key, sharing an item to a network again within this many hours of an
    # earlier share's publication answers 409 duplicate_share (an accidental second click, most often).
    DUPLICATE_SHARE_WINDOW_HOURS: float = Field(default=24, ge=0)
    # At shutdown, the clicks still queued are written for up to this long (through a database
    # failover, if one is under way), before the outbox relay drains (OUTBOX_DRAIN_SECONDS).
    CLICK_DRAIN_SECONDS: float = 10.0
    # Where counted clicks are spooled before the click shipper publishes them (services/sharing/spool.py):
    # a directory only this sharing process writes (on Kubernetes an emptyDir shared with the shipper's
    # sidecar). Empty: clicks are queued in memory and written to the outbox in batches instead.
    CLICK_SPOOL_DIR: str = ""
    # "child": sharing starts the shipper as a process of its own; "external": something else runs it
    # (the sidecar container on Kubernetes).
    CLICK_SHIPPER: Literal["child", "external"] = "child"
    # A spooled click reaches the disk itself (fsync) at most this long after its redirect; a SIGKILL of
    # the process loses nothing either way (the kernel has it), a crash of the machine this much.
    CLICK_SPOOL_FSYNC_SECONDS: float = Field(default=1.0, gt=0)
    CLICK_SPOOL_SEGMENT_BYTES: int = Field(default=64 * 1024 * 1024, ge=4096)
    # How often the shipper looks for new clicks: each look ships what came meanwhile as one batch, so a
    # longer pause costs latency (the click reaches metrics later) and saves CPU per click.
    CLICK_SHIPPER_POLL_SECONDS: float = Field(default=0.2, gt=0)
    # The shipper's niceness (Linux): the redirect comes first, the spool holds what the shipper has not
    # sent yet. 0 leaves it as it is (a Kubernetes sidecar has its own CPU).
    CLICK_SHIPPER_NICE: int = Field(default=10, ge=0, le=19)
    CLICK_SHIPPER_REQUEST_TIMEOUT_MS: int = Field(default=10_000, ge=100)
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
