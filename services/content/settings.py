from condividi.settings import ServiceSettings


class ContentSettings(ServiceSettings):
    SERVICE_NAME: str = "content"
