"""Who is calling: OIDC token verification, roles, and the development issuer."""

from condividi.identity.caller import Caller, CallerDep, Role, require_roles
from condividi.identity.verifier import TokenVerifier

__all__ = ["Caller", "CallerDep", "Role", "TokenVerifier", "require_roles"]
