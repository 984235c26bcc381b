from condividi.settings import ServiceSettings


class PolicySettings(ServiceSettings):
    SERVICE_NAME: str = "policy"
    # The host of tracking links (sharing's PUBLIC_BASE_URL): a share's post carries one, so a live check
    # without a URL of its own measures the post with a link of that length, as the decision will.
    PUBLIC_BASE_URL: str = "http://localhost:8003"
    # SCIM groups named "<prefix><role>" (e.g. "condividi-admin") grant that role; every other group is a
    # team of the same name (services/policy/roster.py classify_group).
    SCIM_ROLE_GROUP_PREFIX: str = "condividi-"
