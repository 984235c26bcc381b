from condividi.settings import ServiceSettings


class MetricsSettings(ServiceSettings):
    SERVICE_NAME: str = "metrics"
