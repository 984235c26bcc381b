from condividi.settings import ServiceSettings


class SharingSettings(ServiceSettings):
    SERVICE_NAME: str = "sharing"
    # Where tracking links live: ``{PUBLIC_BASE_URL}/r/{code}`` (a custom short-link domain in production).
    PUBLIC_BASE_URL: str = "http://localhost:8003"
    # Salts the visitor hash of clicks, so it cannot be reversed to an IP by trying all addresses.
    # Production sets its own secret; rotating it starts a new count of unique visitors.
    CLICK_HASH_SALT: str = "development-salt-change-me"
    # For the items a share refers to before ``ContentPublished`` has reached this service.
    CONTENT_SERVICE_URL: str = "http://localhost:8001"
    # Links are immutable once made, so the click redirect keeps this many in memory.
    LINK_CACHE_SIZE: int = 100_000
