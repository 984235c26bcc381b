from condividi.settings import ServiceSettings


class PolicySettings(ServiceSettings):
    SERVICE_NAME: str = "policy"
