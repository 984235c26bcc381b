"""Clients for the four services' REST APIs.

The REST contract is written once: the request and answer models are the services' own, imported from
``services/<name>/models.py``, and every call goes through an ``Endpoint`` that names the route (method
and path template, exactly as the service declares it) and the model the route answers with. A test
(``gateway/tests/test_contract.py``) checks each endpoint against the service's app, and the stand-ins
in ``gateway/tests/fakes.py`` serve these same endpoints with answers built through these same models,
so neither the clients nor the fakes can drift from the services unnoticed.

One ``ServiceTransport`` (gateway/transport.py) serves the whole process (it owns the connection pool); the per-service
clients here are cheap views made per caller, that add the caller's bearer token and the request id to
every call, parse the answer into the contract's models, and turn any failure into a ``GatewayError``:

- the service's error body ``{"error": {code, message, details}}`` keeps its code, message and details
  (and ``conflicting_id`` when a 409 names the existing object);
- the service is down or does not answer in time: ``service_unavailable`` (503);
- an answer that breaks the contract (not JSON, unknown fields' types, an HTML error page from a proxy):
  ``bad_gateway`` (502). The body is logged, never shown: it may hold a stack trace.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, ClassVar, Generic, TypeVar, cast

from pydantic import BaseModel, TypeAdapter, ValidationError

from condividi.errors import CODES_BY_STATUS
from condividi.observability import current_request_id
from condividi.pagination import Page
from gateway.errors import GatewayError, bad_gateway, service_unavailable, validation_failed_details
from gateway.transport import ServiceResponse, ServiceTimeout, ServiceTransport, ServiceUnreachable
from services.content.campaigns import AudienceUpdate, CampaignCreate, CampaignPublic, CampaignUpdate
from services.content.feed import FeedItem
from services.content.models import (
    CaptionChoice,
    CaptionPublic,
    CaptionsReplace,
    ContentItemCreate,
    ContentItemPublic,
    ContentItemUpdate,
    ContentRevisionPublic,
    PinCreate,
    PublishRequest,
    SuggestionAccept,
    SuggestionCreate,
    SuggestionDecline,
    SuggestionPublic,
)
from services.content.previews.models import LinkPreviewBatch, LinkPreviewBatchRequest, LinkPreviewPublic
from services.metrics.models import (
    ContentStats,
    ContentStatsBatch,
    ContentStatsBatchRequest,
    OrgSummary,
)
from services.policy.audit_models import (
    AuditEntryPublic,
    AuditVerification,
    NearDuplicateSettingsPublic,
    NearDuplicateSettingsUpdate,
    RetentionPublic,
    RetentionUpdate,
)
from services.policy.compliance_models import ComplianceRulePublic, ComplianceRuleWrite
from services.policy.models import (
    AcknowledgementCreate,
    AcknowledgementPublic,
    MemberCreate,
    MemberPublic,
    MyPolicyStatus,
    MyTrainingStatus,
    PolicyCheckRequest,
    PolicyCheckResult,
    PolicyProgressPublic,
    PolicyPublish,
    PolicyVersionCreate,
    PolicyVersionPublic,
    ProvisioningTokenIssued,
    ProvisioningTokenPublic,
    QuizAttemptCreate,
    QuizAttemptPublic,
    RosterMemberPublic,
    ShareDecisionPublic,
    TeamCreate,
    TeamPublic,
    TrainingModuleCreate,
    TrainingModulePublic,
    TrainingProgressPublic,
)
from services.sharing.models import ConnectionCreate, ConnectionPublic, ShareCreate, SharePublic

log = logging.getLogger(__name__)

# The statuses a proxy or a crashed pod answers with when the service itself could not.
_UNAVAILABLE_STATUSES = {502, 503, 504}

R = TypeVar("R")

# --- the endpoints the gateway calls ------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint(Generic[R]):
    """One route of a service as the gateway calls it: ``response`` is the route's ``response_model``
    (``None`` for an answer without a body), ``body`` the model of its JSON body."""

    service: str
    method: str
    path: str
    response: Any
    body: type[BaseModel] | None = None

    def url_path(self, **params: str) -> str:
        return self.path.format(**params)

    def parse(self, data: Any) -> R:
        return cast(R, _adapter(self.response).validate_python(data))


@cache
def _adapter(model: Any) -> TypeAdapter[Any]:
    return TypeAdapter(model)


# content
FEED: Endpoint[Page[FeedItem]] = Endpoint("content", "GET", "/api/v1/feed", Page[FeedItem])
GET_CONTENT_ITEM: Endpoint[ContentItemPublic] = Endpoint(
    "content", "GET", "/api/v1/content-items/{item_id}", ContentItemPublic
)
CREATE_CONTENT_ITEM: Endpoint[ContentItemPublic] = Endpoint(
    "content", "POST", "/api/v1/content-items", ContentItemPublic, ContentItemCreate
)
PUBLISH_CONTENT_ITEM: Endpoint[ContentItemPublic] = Endpoint(
    "content", "POST", "/api/v1/content-items/{item_id}/publish", ContentItemPublic, PublishRequest
)
# the library (curators)
LIST_CONTENT_ITEMS: Endpoint[Page[ContentItemPublic]] = Endpoint(
    "content", "GET", "/api/v1/content-items", Page[ContentItemPublic]
)
UPDATE_CONTENT_ITEM: Endpoint[ContentItemPublic] = Endpoint(
    "content", "PATCH", "/api/v1/content-items/{item_id}", ContentItemPublic, ContentItemUpdate
)
DELETE_CONTENT_ITEM: Endpoint[None] = Endpoint("content", "DELETE", "/api/v1/content-items/{item_id}", None)
UNPUBLISH_CONTENT_ITEM: Endpoint[ContentItemPublic] = Endpoint(
    "content", "POST", "/api/v1/content-items/{item_id}/unpublish", ContentItemPublic
)
ARCHIVE_CONTENT_ITEM: Endpoint[ContentItemPublic] = Endpoint(
    "content", "POST", "/api/v1/content-items/{item_id}/archive", ContentItemPublic
)
PIN_CONTENT_ITEM: Endpoint[ContentItemPublic] = Endpoint(
    "content", "PUT", "/api/v1/content-items/{item_id}/pin", ContentItemPublic, PinCreate
)
UNPIN_CONTENT_ITEM: Endpoint[ContentItemPublic] = Endpoint(
    "content", "DELETE", "/api/v1/content-items/{item_id}/pin", ContentItemPublic
)
LIST_REVISIONS: Endpoint[list[ContentRevisionPublic]] = Endpoint(
    "content", "GET", "/api/v1/content-items/{item_id}/revisions", list[ContentRevisionPublic]
)
LINK_PREVIEW_BATCH: Endpoint[LinkPreviewBatch] = Endpoint(
    "content", "POST", "/api/v1/link-previews/batch", LinkPreviewBatch, LinkPreviewBatchRequest
)
REFRESH_LINK_PREVIEW: Endpoint[LinkPreviewPublic] = Endpoint(
    "content", "POST", "/api/v1/content-items/{item_id}/link-preview/refresh", LinkPreviewPublic
)
# content: campaigns and audiences (issue 7)
LIST_CAMPAIGNS: Endpoint[Page[CampaignPublic]] = Endpoint("content", "GET", "/api/v1/campaigns", Page[CampaignPublic])
GET_CAMPAIGN: Endpoint[CampaignPublic] = Endpoint("content", "GET", "/api/v1/campaigns/{campaign_id}", CampaignPublic)
CREATE_CAMPAIGN: Endpoint[CampaignPublic] = Endpoint(
    "content", "POST", "/api/v1/campaigns", CampaignPublic, CampaignCreate
)
UPDATE_CAMPAIGN: Endpoint[CampaignPublic] = Endpoint(
    "content", "PATCH", "/api/v1/campaigns/{campaign_id}", CampaignPublic, CampaignUpdate
)
ARCHIVE_CAMPAIGN: Endpoint[CampaignPublic] = Endpoint(
    "content", "POST", "/api/v1/campaigns/{campaign_id}/archive", CampaignPublic
)
ADD_CAMPAIGN_ITEM: Endpoint[ContentItemPublic] = Endpoint(
    "content", "PUT", "/api/v1/campaigns/{campaign_id}/items/{item_id}", ContentItemPublic
)
REMOVE_CAMPAIGN_ITEM: Endpoint[ContentItemPublic] = Endpoint(
    "content", "DELETE", "/api/v1/campaigns/{campaign_id}/items/{item_id}", ContentItemPublic
)
CAMPAIGN_ITEMS: Endpoint[Page[ContentItemPublic]] = Endpoint(
    "content", "GET", "/api/v1/campaigns/{campaign_id}/items", Page[ContentItemPublic]
)
SET_ITEM_AUDIENCE: Endpoint[ContentItemPublic] = Endpoint(
    "content", "PUT", "/api/v1/content-items/{item_id}/audience", ContentItemPublic, AudienceUpdate
)
# policy
CHECK_POST: Endpoint[PolicyCheckResult] = Endpoint(
    "policy", "POST", "/api/v1/policy-checks", PolicyCheckResult, PolicyCheckRequest
)
GET_SHARE_DECISION: Endpoint[ShareDecisionPublic] = Endpoint(
    "policy", "GET", "/api/v1/share-decisions/{share_id}", ShareDecisionPublic
)
CREATE_TEAM: Endpoint[TeamPublic] = Endpoint("policy", "POST", "/api/v1/teams", TeamPublic, TeamCreate)
LIST_TEAMS: Endpoint[Page[TeamPublic]] = Endpoint("policy", "GET", "/api/v1/teams", Page[TeamPublic])
GET_TEAM: Endpoint[TeamPublic] = Endpoint("policy", "GET", "/api/v1/teams/{team_id}", TeamPublic)
CREATE_MEMBER: Endpoint[MemberPublic] = Endpoint("policy", "POST", "/api/v1/members", MemberPublic, MemberCreate)
LIST_MEMBERS: Endpoint[Page[MemberPublic]] = Endpoint("policy", "GET", "/api/v1/members", Page[MemberPublic])
GET_MY_MEMBER: Endpoint[MemberPublic] = Endpoint("policy", "GET", "/api/v1/members/me", MemberPublic)
GET_MEMBER: Endpoint[MemberPublic] = Endpoint("policy", "GET", "/api/v1/members/{member_id}", MemberPublic)
DEACTIVATE_MEMBER: Endpoint[RosterMemberPublic] = Endpoint(
    "policy", "POST", "/api/v1/roster/members/{member_id}/deactivate", RosterMemberPublic
)
CREATE_PROVISIONING_TOKEN: Endpoint[ProvisioningTokenIssued] = Endpoint(
    "policy", "POST", "/api/v1/provisioning-tokens", ProvisioningTokenIssued
)
LIST_PROVISIONING_TOKENS: Endpoint[list[ProvisioningTokenPublic]] = Endpoint(
    "policy", "GET", "/api/v1/provisioning-tokens", list[ProvisioningTokenPublic]
)
ROTATE_PROVISIONING_TOKEN: Endpoint[ProvisioningTokenIssued] = Endpoint(
    "policy", "POST", "/api/v1/provisioning-tokens/{token_id}/rotate", ProvisioningTokenIssued
)
# policy: the social-media policy and training (issue 6)
CREATE_POLICY_VERSION: Endpoint[PolicyVersionPublic] = Endpoint(
    "policy", "POST", "/api/v1/policy-versions", PolicyVersionPublic, PolicyVersionCreate
)
LIST_POLICY_VERSIONS: Endpoint[Page[PolicyVersionPublic]] = Endpoint(
    "policy", "GET", "/api/v1/policy-versions", Page[PolicyVersionPublic]
)
GET_POLICY_VERSION: Endpoint[PolicyVersionPublic] = Endpoint(
    "policy", "GET", "/api/v1/policy-versions/{version_id}", PolicyVersionPublic
)
PUBLISH_POLICY_VERSION: Endpoint[PolicyVersionPublic] = Endpoint(
    "policy", "POST", "/api/v1/policy-versions/{version_id}/publish", PolicyVersionPublic, PolicyPublish
)
POLICY_PROGRESS: Endpoint[PolicyProgressPublic] = Endpoint(
    "policy", "GET", "/api/v1/policy-versions/{version_id}/progress", PolicyProgressPublic
)
ACKNOWLEDGE_POLICY: Endpoint[AcknowledgementPublic] = Endpoint(
    "policy", "POST", "/api/v1/policy-acknowledgements", AcknowledgementPublic, AcknowledgementCreate
)
MY_POLICY_STATUS: Endpoint[MyPolicyStatus] = Endpoint("policy", "GET", "/api/v1/policy-status", MyPolicyStatus)
CREATE_TRAINING_MODULE: Endpoint[TrainingModulePublic] = Endpoint(
    "policy", "POST", "/api/v1/training-modules", TrainingModulePublic, TrainingModuleCreate
)
LIST_TRAINING_MODULES: Endpoint[Page[TrainingModulePublic]] = Endpoint(
    "policy", "GET", "/api/v1/training-modules", Page[TrainingModulePublic]
)
GET_TRAINING_MODULE: Endpoint[TrainingModulePublic] = Endpoint(
    "policy", "GET", "/api/v1/training-modules/{module_id}", TrainingModulePublic
)
SUBMIT_QUIZ_ATTEMPT: Endpoint[QuizAttemptPublic] = Endpoint(
    "policy", "POST", "/api/v1/training-modules/{module_id}/attempts", QuizAttemptPublic, QuizAttemptCreate
)
GET_QUIZ_ATTEMPT: Endpoint[QuizAttemptPublic] = Endpoint(
    "policy", "GET", "/api/v1/quiz-attempts/{attempt_id}", QuizAttemptPublic
)
TRAINING_PROGRESS: Endpoint[TrainingProgressPublic] = Endpoint(
    "policy", "GET", "/api/v1/training-modules/{module_id}/progress", TrainingProgressPublic
)
MY_TRAINING_STATUS: Endpoint[MyTrainingStatus] = Endpoint("policy", "GET", "/api/v1/training-status", MyTrainingStatus)
# policy: the audit log and the near-duplicate guard (issue 8)
LIST_AUDIT_ENTRIES: Endpoint[Page[AuditEntryPublic]] = Endpoint(
    "policy", "GET", "/api/v1/audit/entries", Page[AuditEntryPublic]
)
VERIFY_AUDIT_CHAIN: Endpoint[AuditVerification] = Endpoint(
    "policy", "GET", "/api/v1/audit/verification", AuditVerification
)
GET_AUDIT_RETENTION: Endpoint[RetentionPublic] = Endpoint("policy", "GET", "/api/v1/audit/retention", RetentionPublic)
UPDATE_AUDIT_RETENTION: Endpoint[RetentionPublic] = Endpoint(
    "policy", "PUT", "/api/v1/audit/retention", RetentionPublic, RetentionUpdate
)
GET_NEAR_DUPLICATE_SETTINGS: Endpoint[NearDuplicateSettingsPublic] = Endpoint(
    "policy", "GET", "/api/v1/compliance/near-duplicates", NearDuplicateSettingsPublic
)
UPDATE_NEAR_DUPLICATE_SETTINGS: Endpoint[NearDuplicateSettingsPublic] = Endpoint(
    "policy", "PUT", "/api/v1/compliance/near-duplicates", NearDuplicateSettingsPublic, NearDuplicateSettingsUpdate
)
# The compliance rules (issue 8).
CREATE_COMPLIANCE_RULE: Endpoint[ComplianceRulePublic] = Endpoint(
    "policy", "POST", "/api/v1/compliance/rules", ComplianceRulePublic, ComplianceRuleWrite
)
LIST_COMPLIANCE_RULES: Endpoint[Page[ComplianceRulePublic]] = Endpoint(
    "policy", "GET", "/api/v1/compliance/rules", Page[ComplianceRulePublic]
)
GET_COMPLIANCE_RULE: Endpoint[ComplianceRulePublic] = Endpoint(
    "policy", "GET", "/api/v1/compliance/rules/{rule_id}", ComplianceRulePublic
)
REPLACE_COMPLIANCE_RULE: Endpoint[ComplianceRulePublic] = Endpoint(
    "policy", "PUT", "/api/v1/compliance/rules/{rule_id}", ComplianceRulePublic, ComplianceRuleWrite
)
DELETE_COMPLIANCE_RULE: Endpoint[None] = Endpoint("policy", "DELETE", "/api/v1/compliance/rules/{rule_id}", None)
# sharing
CREATE_SHARE: Endpoint[SharePublic] = Endpoint("sharing", "POST", "/api/v1/shares", SharePublic, ShareCreate)
GET_SHARE: Endpoint[SharePublic] = Endpoint("sharing", "GET", "/api/v1/shares/{share_id}", SharePublic)
LIST_MY_SHARES: Endpoint[Page[SharePublic]] = Endpoint("sharing", "GET", "/api/v1/shares", Page[SharePublic])
CREATE_CONNECTION: Endpoint[ConnectionPublic] = Endpoint(
    "sharing", "POST", "/api/v1/connections", ConnectionPublic, ConnectionCreate
)
LIST_MY_CONNECTIONS: Endpoint[list[ConnectionPublic]] = Endpoint(
    "sharing", "GET", "/api/v1/connections", list[ConnectionPublic]
)
DELETE_CONNECTION: Endpoint[None] = Endpoint("sharing", "DELETE", "/api/v1/connections/{connection_id}", None)
# metrics
CONTENT_STATS_BATCH: Endpoint[ContentStatsBatch] = Endpoint(
    "metrics", "POST", "/api/v1/content-stats/batch", ContentStatsBatch, ContentStatsBatchRequest
)
ORG_SUMMARY: Endpoint[OrgSummary] = Endpoint("metrics", "GET", "/api/v1/summary", OrgSummary)

ENDPOINTS: tuple[Endpoint[Any], ...] = (
    FEED,
    LIST_CAMPAIGNS,
    GET_CAMPAIGN,
    CREATE_CAMPAIGN,
    UPDATE_CAMPAIGN,
    ARCHIVE_CAMPAIGN,
    ADD_CAMPAIGN_ITEM,
    REMOVE_CAMPAIGN_ITEM,
    CAMPAIGN_ITEMS,
    SET_ITEM_AUDIENCE,
    GET_CONTENT_ITEM,
    CREATE_CONTENT_ITEM,
    PUBLISH_CONTENT_ITEM,
    LIST_CONTENT_ITEMS,
    UPDATE_CONTENT_ITEM,
    DELETE_CONTENT_ITEM,
    UNPUBLISH_CONTENT_ITEM,
    ARCHIVE_CONTENT_ITEM,
    PIN_CONTENT_ITEM,
    UNPIN_CONTENT_ITEM,
    LIST_REVISIONS,
    CHECK_POST,
    GET_SHARE_DECISION,
    CREATE_TEAM,
    LIST_TEAMS,
    GET_TEAM,
    CREATE_MEMBER,
    LIST_MEMBERS,
    GET_MY_MEMBER,
    GET_MEMBER,
    DEACTIVATE_MEMBER,
    CREATE_PROVISIONING_TOKEN,
    LIST_PROVISIONING_TOKENS,
    ROTATE_PROVISIONING_TOKEN,
    CREATE_SHARE,
    GET_SHARE,
    LIST_MY_SHARES,
    CREATE_CONNECTION,
    LIST_MY_CONNECTIONS,
    DELETE_CONNECTION,
    CONTENT_STATS_BATCH,
    ORG_SUMMARY,
    CREATE_POLICY_VERSION,
    LIST_POLICY_VERSIONS,
    GET_POLICY_VERSION,
    PUBLISH_POLICY_VERSION,
    POLICY_PROGRESS,
    ACKNOWLEDGE_POLICY,
    MY_POLICY_STATUS,
    CREATE_TRAINING_MODULE,
    LIST_TRAINING_MODULES,
    GET_TRAINING_MODULE,
    SUBMIT_QUIZ_ATTEMPT,
    GET_QUIZ_ATTEMPT,
    TRAINING_PROGRESS,
    MY_TRAINING_STATUS,
    LINK_PREVIEW_BATCH,
    REFRESH_LINK_PREVIEW,
    LIST_AUDIT_ENTRIES,
    VERIFY_AUDIT_CHAIN,
    GET_AUDIT_RETENTION,
    UPDATE_AUDIT_RETENTION,
    GET_NEAR_DUPLICATE_SETTINGS,
    UPDATE_NEAR_DUPLICATE_SETTINGS,
    CREATE_COMPLIANCE_RULE,
    LIST_COMPLIANCE_RULES,
    GET_COMPLIANCE_RULE,
    REPLACE_COMPLIANCE_RULE,
    DELETE_COMPLIANCE_RULE,
)

# content: captions and suggestions (gateway/captions.py, gateway/suggestions.py)
LIST_CAPTIONS: Endpoint[list[CaptionPublic]] = Endpoint(
    "content", "GET", "/api/v1/content-items/{item_id}/captions", list[CaptionPublic]
)
REPLACE_CAPTIONS: Endpoint[list[CaptionPublic]] = Endpoint(
    "content", "PUT", "/api/v1/content-items/{item_id}/captions", list[CaptionPublic], CaptionsReplace
)
CHOOSE_CAPTIONS: Endpoint[list[CaptionChoice]] = Endpoint("content", "GET", "/api/v1/captions", list[CaptionChoice])
CREATE_SUGGESTION: Endpoint[SuggestionPublic] = Endpoint(
    "content", "POST", "/api/v1/suggestions", SuggestionPublic, SuggestionCreate
)
LIST_SUGGESTIONS: Endpoint[Page[SuggestionPublic]] = Endpoint(
    "content", "GET", "/api/v1/suggestions", Page[SuggestionPublic]
)
LIST_MY_SUGGESTIONS: Endpoint[Page[SuggestionPublic]] = Endpoint(
    "content", "GET", "/api/v1/suggestions/mine", Page[SuggestionPublic]
)
GET_SUGGESTION: Endpoint[SuggestionPublic] = Endpoint(
    "content", "GET", "/api/v1/suggestions/{suggestion_id}", SuggestionPublic
)
ACCEPT_SUGGESTION: Endpoint[SuggestionPublic] = Endpoint(
    "content", "POST", "/api/v1/suggestions/{suggestion_id}/accept", SuggestionPublic, SuggestionAccept
)
DECLINE_SUGGESTION: Endpoint[SuggestionPublic] = Endpoint(
    "content", "POST", "/api/v1/suggestions/{suggestion_id}/decline", SuggestionPublic, SuggestionDecline
)
ENDPOINTS = (
    *ENDPOINTS,
    LIST_CAPTIONS,
    REPLACE_CAPTIONS,
    CHOOSE_CAPTIONS,
    CREATE_SUGGESTION,
    LIST_SUGGESTIONS,
    LIST_MY_SUGGESTIONS,
    GET_SUGGESTION,
    ACCEPT_SUGGESTION,
    DECLINE_SUGGESTION,
)

# Routes of the services the gateway deliberately does not call, and why.
NOT_CALLED: dict[tuple[str, str, str], str] = {
    ("metrics", "GET", "/api/v1/content-stats/{content_id}"): (
        "ContentItem.stats reads the same figures through content-stats/batch, one call per operation"
    ),
    ("content", "GET", "/api/v1/content-items/{item_id}/link-preview"): (
        "ContentItem.linkPreview reads previews through link-previews/batch, one call per operation"
    ),
    ("policy", "GET", "/api/v1/roster/members"): (
        "for integrators; GraphQL's members and Member read the same attributes through /api/v1/members"
    ),
    ("policy", "GET", "/api/v1/roster/members/{member_id}"): (
        "for integrators; node(id:) on a Member reads it through /api/v1/members/{member_id}"
    ),
    ("policy", "POST", "/api/v1/roster/imports"): "a CSV file is uploaded over REST; GraphQL carries no files",
    ("policy", "GET", "/api/v1/policy-versions/{version_id}/acknowledgements.csv"): (
        "a CSV file for the admins' records, downloaded as a file; GraphQL answers JSON (PolicyVersion.progress "
        "has the figures)"
    ),
    ("policy", "GET", "/api/v1/audit/export"): (
        "the retention export is a file (JSON Lines or CSV) streamed to the auditor; GraphQL answers JSON "
        "(auditEntries pages through the same entries)"
    ),
}


def zero_stats(content_id: uuid.UUID) -> ContentStats:
    """What an item nobody has shared yet has (metrics leaves unknown ids out of a batch)."""
    return ContentStats(content_id=content_id, shares=0, clicks=0, unique_clicks=0, potential_reach=0)


def request_body(model: type[BaseModel], **values: Any) -> dict[str, Any]:
    """The JSON body of a call, validated by the service's own request model first, so that input the
    service would refuse is refused here with the same words (``validation_failed``, loc
    ``["body", field]``) and never travels. Fields left out stay out (the service's defaults apply)."""
    try:
        instance = model.model_validate({k: v for k, v in values.items() if v is not None})
    except ValidationError as exc:
        raise validation_failed_details(
            [{"loc": ["body", *err["loc"]], "message": err["msg"]} for err in exc.errors()]
        ) from exc
    body: dict[str, Any] = instance.model_dump(mode="json", exclude_unset=True)
    return body


# --- calling a service --------------------------------------------------------------------------


@dataclass(frozen=True)
class Credentials:
    """What every call carries on behalf of the caller."""

    token: str
    request_id: str | None = None
    # W3C trace context of the GraphQL request, passed on so the services' events carry it.
    traceparent: str = ""


class ServiceClient:
    service: ClassVar[str]

    def __init__(self, http: ServiceTransport, base_url: str, credentials: Credentials) -> None:
        self._http = http
        self._base_url = base_url.rstrip("/")
        self._credentials = credentials

    def _headers(self) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self._credentials.token}", "Accept": "application/json"}
        request_id = self._credentials.request_id or current_request_id()
        if request_id:
            headers["X-Request-ID"] = request_id
        if self._credentials.traceparent:
            headers["traceparent"] = self._credentials.traceparent
        return headers

    async def _send(
        self,
        endpoint: Endpoint[R],
        *,
        path: dict[str, str] | None = None,
        json: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> R:
        """Calls ``endpoint`` and parses its answer with the route's own model."""
        if endpoint.service != self.service:
            raise RuntimeError(f"{endpoint.path} is a route of {endpoint.service}, not of {self.service}")
        url = f"{self._base_url}{endpoint.url_path(**(path or {}))}"
        # A list is the parameter repeated (``?status=a&status=b``), as the services read lists.
        query = [
            (key, _query_value(item))
            for key, value in (params or {}).items()
            if value is not None
            for item in (value if isinstance(value, list | tuple) else [value])
        ]
        try:
            response = await self._http.request(
                endpoint.method, url, json_body=json, params=query, headers={**self._headers(), **(headers or {})}
            )
        except ServiceTimeout as exc:
            log.warning("service call timed out", extra={"downstream": self.service, "path": endpoint.path})
            raise service_unavailable(self.service, "did not answer in time") from exc
        except ServiceUnreachable as exc:
            extra = {"downstream": self.service, "path": endpoint.path, "error": str(exc)}
            log.warning("service unreachable", extra=extra)
            raise service_unavailable(self.service) from exc
        if not response.is_success:
            raise self._error_from(response, endpoint.path)
        if endpoint.response is None:
            return cast(R, None)
        try:
            data = response.json()
        except ValueError as exc:
            log.error("service answered non-JSON", extra={"downstream": self.service, "path": endpoint.path})
            raise bad_gateway(self.service) from exc
        try:
            return endpoint.parse(data)
        except ValidationError as exc:
            log.error(
                "service answer breaks the contract",
                extra={"downstream": self.service, "path": endpoint.path, "error": str(exc)[:1000]},
            )
            raise bad_gateway(self.service) from exc

    def _error_from(self, response: ServiceResponse, path: str) -> GatewayError:
        status = response.status
        try:
            body = response.json()
            error = body["error"]
            code, message = error["code"], error["message"]
            if not isinstance(code, str) or not isinstance(message, str):
                raise TypeError("code and message must be strings")
            conflicting = error.get("conflicting_id")
            return GatewayError(
                code,
                message,
                status=status,
                details=_details(error.get("details")),
                conflicting_id=conflicting if isinstance(conflicting, str) else None,
            )
        except (ValueError, KeyError, TypeError):
            pass
        # Not the contract's error shape: a proxy's page, or a crash the service did not catch.
        log.error(
            "service answered an error without the error shape",
            extra={"downstream": self.service, "path": path, "status": status, "body": response.text[:500]},
        )
        if status in _UNAVAILABLE_STATUSES:
            return service_unavailable(self.service)
        code = CODES_BY_STATUS.get(status)
        if code is None:
            return bad_gateway(self.service)
        return GatewayError(code, f"the {self.service} service answered {status}", status=status)


def _query_value(value: Any) -> str:
    # As httpx wrote them: booleans in JSON's spelling, the rest as str() gives them.
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _details(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list):
        return []
    details = []
    for entry in raw:
        if isinstance(entry, dict) and "message" in entry:
            loc = entry.get("loc", [])
            loc = [p if isinstance(p, (str, int)) else str(p) for p in loc] if isinstance(loc, list) else []
            details.append({"loc": loc, "message": str(entry["message"])})
    return details


@dataclass(frozen=True)
class PageQuery:
    """One page of a service's keyset list: forward from ``cursor``, or backward from ``before`` (an
    empty ``before`` reads the last page)."""

    limit: int
    cursor: str | None = None
    before: str | None = None

    def params(self) -> dict[str, Any]:
        return {"limit": self.limit, "cursor": self.cursor, "before": self.before}


class ContentClient(ServiceClient):
    service = "content"

    async def feed(
        self, page: PageQuery, *, topic: str | None = None, campaign_id: uuid.UUID | None = None
    ) -> Page[FeedItem]:
        params = {**page.params(), "topic": topic, "campaign_id": str(campaign_id) if campaign_id else None}
        return await self._send(FEED, params=params)

    async def get_item(self, item_id: uuid.UUID) -> ContentItemPublic:
        return await self._send(GET_CONTENT_ITEM, path={"item_id": str(item_id)})

    async def create_item(
        self, *, title: str, url: str, summary: str | None, suggested_caption: str | None, **library: Any
    ) -> ContentItemPublic:
        """``library``: the library's optional fields (topics, image_url, image_alt, expires_at, pin)."""
        body = request_body(
            ContentItemCreate, title=title, url=url, summary=summary, suggested_caption=suggested_caption, **library
        )
        return await self._send(CREATE_CONTENT_ITEM, json=body)

    async def publish_item(self, item_id: uuid.UUID, *, publish_at: datetime | None = None) -> ContentItemPublic:
        body = request_body(PublishRequest, publish_at=publish_at)
        return await self._send(PUBLISH_CONTENT_ITEM, path={"item_id": str(item_id)}, json=body)

    async def library(
        self,
        page: PageQuery,
        *,
        statuses: list[str] | None = None,
        campaign_id: uuid.UUID | None = None,
        topic: str | None = None,
        author: str | None = None,
        text: str | None = None,
        pinned: bool | None = None,
    ) -> Page[ContentItemPublic]:
        params = {
            **page.params(),
            "status": statuses or None,
            "campaign_id": str(campaign_id) if campaign_id else None,
            "topic": topic,
            "author": author,
            "q": text,
            "pinned": None if pinned is None else str(pinned).lower(),
        }
        return await self._send(LIST_CONTENT_ITEMS, params=params)

    async def update_item(self, item_id: uuid.UUID, changes: dict[str, Any]) -> ContentItemPublic:
        """``changes``: the fields to change, a None clearing ``image_url`` or ``expires_at``."""
        try:
            validated = ContentItemUpdate.model_validate(changes)
        except ValidationError as exc:
            raise validation_failed_details(
                [{"loc": ["body", *err["loc"]], "message": err["msg"]} for err in exc.errors()]
            ) from exc
        body = validated.model_dump(mode="json", exclude_unset=True)
        return await self._send(UPDATE_CONTENT_ITEM, path={"item_id": str(item_id)}, json=body)

    async def delete_item(self, item_id: uuid.UUID) -> None:
        await self._send(DELETE_CONTENT_ITEM, path={"item_id": str(item_id)})

    async def unpublish_item(self, item_id: uuid.UUID) -> ContentItemPublic:
        return await self._send(UNPUBLISH_CONTENT_ITEM, path={"item_id": str(item_id)})

    async def archive_item(self, item_id: uuid.UUID) -> ContentItemPublic:
        return await self._send(ARCHIVE_CONTENT_ITEM, path={"item_id": str(item_id)})

    async def pin_item(self, item_id: uuid.UUID, *, position: int, pinned_until: datetime | None) -> ContentItemPublic:
        body = request_body(PinCreate, position=position, pinned_until=pinned_until)
        return await self._send(PIN_CONTENT_ITEM, path={"item_id": str(item_id)}, json=body)

    async def unpin_item(self, item_id: uuid.UUID) -> ContentItemPublic:
        return await self._send(UNPIN_CONTENT_ITEM, path={"item_id": str(item_id)})

    async def revisions(self, item_id: uuid.UUID) -> list[ContentRevisionPublic]:
        return await self._send(LIST_REVISIONS, path={"item_id": str(item_id)})

    MAX_PREVIEW_BATCH = 100  # the contract's limit for link-previews/batch

    async def link_previews(self, item_ids: list[uuid.UUID]) -> list[LinkPreviewPublic]:
        if not item_ids:
            return []
        if len(item_ids) > self.MAX_PREVIEW_BATCH:
            raise ValueError(f"at most {self.MAX_PREVIEW_BATCH} items a batch")
        body = request_body(LinkPreviewBatchRequest, item_ids=item_ids)
        return (await self._send(LINK_PREVIEW_BATCH, json=body)).items

    async def refresh_link_preview(self, item_id: uuid.UUID) -> LinkPreviewPublic:
        return await self._send(REFRESH_LINK_PREVIEW, path={"item_id": str(item_id)})

    async def campaigns(self, page: PageQuery, *, include_archived: bool = False) -> Page[CampaignPublic]:
        return await self._send(LIST_CAMPAIGNS, params={**page.params(), "include_archived": include_archived})

    async def campaign(self, campaign_id: uuid.UUID) -> CampaignPublic:
        return await self._send(GET_CAMPAIGN, path={"campaign_id": str(campaign_id)})

    async def create_campaign(self, **fields: Any) -> CampaignPublic:
        return await self._send(CREATE_CAMPAIGN, json=request_body(CampaignCreate, **fields))

    async def update_campaign(self, campaign_id: uuid.UUID, fields: dict[str, Any]) -> CampaignPublic:
        """``fields``: only those to change (a None value clears it)."""
        try:
            body = CampaignUpdate.model_validate(fields).model_dump(mode="json", exclude_unset=True)
        except ValidationError as exc:
            raise validation_failed_details(
                [{"loc": ["body", *err["loc"]], "message": err["msg"]} for err in exc.errors()]
            ) from exc
        return await self._send(UPDATE_CAMPAIGN, path={"campaign_id": str(campaign_id)}, json=body)

    async def archive_campaign(self, campaign_id: uuid.UUID) -> CampaignPublic:
        return await self._send(ARCHIVE_CAMPAIGN, path={"campaign_id": str(campaign_id)})

    async def add_campaign_item(self, campaign_id: uuid.UUID, item_id: uuid.UUID) -> ContentItemPublic:
        path = {"campaign_id": str(campaign_id), "item_id": str(item_id)}
        return await self._send(ADD_CAMPAIGN_ITEM, path=path)

    async def remove_campaign_item(self, campaign_id: uuid.UUID, item_id: uuid.UUID) -> ContentItemPublic:
        path = {"campaign_id": str(campaign_id), "item_id": str(item_id)}
        return await self._send(REMOVE_CAMPAIGN_ITEM, path=path)

    async def campaign_items(self, campaign_id: uuid.UUID, page: PageQuery) -> Page[ContentItemPublic]:
        return await self._send(CAMPAIGN_ITEMS, path={"campaign_id": str(campaign_id)}, params=page.params())

    async def set_item_audience(self, item_id: uuid.UUID, audience: dict[str, Any]) -> ContentItemPublic:
        body = request_body(AudienceUpdate, audience=audience)
        return await self._send(SET_ITEM_AUDIENCE, path={"item_id": str(item_id)}, json=body)

    # A page of items at most: the route takes up to 100 ids.
    MAX_CAPTION_BATCH = 100

    async def captions(self, item_id: uuid.UUID) -> list[CaptionPublic]:
        return await self._send(LIST_CAPTIONS, path={"item_id": str(item_id)})

    async def replace_captions(self, item_id: uuid.UUID, captions: list[dict[str, Any]]) -> list[CaptionPublic]:
        body = request_body(CaptionsReplace, captions=captions)
        return await self._send(REPLACE_CAPTIONS, path={"item_id": str(item_id)}, json=body)

    async def choose_captions(self, network: str, content_ids: list[uuid.UUID]) -> list[CaptionChoice]:
        params = {"network": network, "content_id": [str(i) for i in content_ids]}
        return await self._send(CHOOSE_CAPTIONS, params=params)

    async def suggest(self, *, url: str, note: str) -> SuggestionPublic:
        return await self._send(CREATE_SUGGESTION, json=request_body(SuggestionCreate, url=url, note=note))

    async def suggestions(self, page: PageQuery, *, status: str | None = None) -> Page[SuggestionPublic]:
        return await self._send(LIST_SUGGESTIONS, params={**page.params(), "status": status})

    async def my_suggestions(self, page: PageQuery) -> Page[SuggestionPublic]:
        return await self._send(LIST_MY_SUGGESTIONS, params=page.params())

    async def get_suggestion(self, suggestion_id: uuid.UUID) -> SuggestionPublic:
        return await self._send(GET_SUGGESTION, path={"suggestion_id": str(suggestion_id)})

    async def accept_suggestion(self, suggestion_id: uuid.UUID, *, title: str | None) -> SuggestionPublic:
        body = request_body(SuggestionAccept, title=title)
        return await self._send(ACCEPT_SUGGESTION, path={"suggestion_id": str(suggestion_id)}, json=body)

    async def decline_suggestion(self, suggestion_id: uuid.UUID, *, reason: str) -> SuggestionPublic:
        body = request_body(SuggestionDecline, reason=reason)
        return await self._send(DECLINE_SUGGESTION, path={"suggestion_id": str(suggestion_id)}, json=body)


class PolicyClient(ServiceClient):
    service = "policy"

    async def check(
        self,
        *,
        network: str,
        text: str,
        url: str | None,
        required_disclosure: str | None = None,
        personal_touch: float | None = None,
    ) -> PolicyCheckResult:
        body = request_body(
            PolicyCheckRequest,
            network=network,
            text=text,
            url=url,
            required_disclosure=required_disclosure,
            personal_touch=personal_touch,
        )
        return await self._send(CHECK_POST, json=body)

    # The compliance rules (issue 8).

    async def create_compliance_rule(self, fields: dict[str, Any]) -> ComplianceRulePublic:
        return await self._send(CREATE_COMPLIANCE_RULE, json=request_body(ComplianceRuleWrite, **fields))

    async def compliance_rules(self, page: PageQuery, kind: str | None = None) -> Page[ComplianceRulePublic]:
        return await self._send(LIST_COMPLIANCE_RULES, params={**page.params(), "kind": kind})

    async def get_compliance_rule(self, rule_id: uuid.UUID) -> ComplianceRulePublic:
        return await self._send(GET_COMPLIANCE_RULE, path={"rule_id": str(rule_id)})

    async def replace_compliance_rule(self, rule_id: uuid.UUID, fields: dict[str, Any]) -> ComplianceRulePublic:
        body = request_body(ComplianceRuleWrite, **fields)
        return await self._send(REPLACE_COMPLIANCE_RULE, path={"rule_id": str(rule_id)}, json=body)

    async def delete_compliance_rule(self, rule_id: uuid.UUID) -> None:
        await self._send(DELETE_COMPLIANCE_RULE, path={"rule_id": str(rule_id)})

    async def share_decision(self, share_id: uuid.UUID) -> ShareDecisionPublic:
        return await self._send(GET_SHARE_DECISION, path={"share_id": str(share_id)})

    async def create_team(self, *, name: str) -> TeamPublic:
        return await self._send(CREATE_TEAM, json=request_body(TeamCreate, name=name))

    async def teams(self, page: PageQuery) -> Page[TeamPublic]:
        return await self._send(LIST_TEAMS, params=page.params())

    async def get_team(self, team_id: uuid.UUID) -> TeamPublic:
        return await self._send(GET_TEAM, path={"team_id": str(team_id)})

    async def create_member(
        self, *, subject: str, email: str, name: str, team_id: uuid.UUID | None, roles: list[str]
    ) -> MemberPublic:
        body = request_body(MemberCreate, subject=subject, email=email, name=name, team_id=team_id, roles=roles)
        return await self._send(CREATE_MEMBER, json=body)

    async def members(self, page: PageQuery) -> Page[MemberPublic]:
        return await self._send(LIST_MEMBERS, params=page.params())

    async def my_member(self) -> MemberPublic:
        return await self._send(GET_MY_MEMBER)

    async def get_member(self, member_id: uuid.UUID) -> MemberPublic:
        return await self._send(GET_MEMBER, path={"member_id": str(member_id)})

    async def deactivate_member(self, member_id: uuid.UUID) -> RosterMemberPublic:
        return await self._send(DEACTIVATE_MEMBER, path={"member_id": str(member_id)})

    async def create_provisioning_token(self) -> ProvisioningTokenIssued:
        return await self._send(CREATE_PROVISIONING_TOKEN)

    async def provisioning_tokens(self) -> list[ProvisioningTokenPublic]:
        return await self._send(LIST_PROVISIONING_TOKENS)

    async def rotate_provisioning_token(self, token_id: uuid.UUID) -> ProvisioningTokenIssued:
        return await self._send(ROTATE_PROVISIONING_TOKEN, path={"token_id": str(token_id)})

    # --- the social-media policy and training (issue 6) ---

    async def draft_policy_version(self, *, title: str, body: str) -> PolicyVersionPublic:
        return await self._send(CREATE_POLICY_VERSION, json=request_body(PolicyVersionCreate, title=title, body=body))

    async def policy_versions(self, page: PageQuery) -> Page[PolicyVersionPublic]:
        return await self._send(LIST_POLICY_VERSIONS, params=page.params())

    async def get_policy_version(self, version_id: uuid.UUID) -> PolicyVersionPublic:
        return await self._send(GET_POLICY_VERSION, path={"version_id": str(version_id)})

    async def publish_policy_version(
        self,
        version_id: uuid.UUID,
        *,
        requires_acknowledgement: bool,
        team_ids: list[uuid.UUID],
        locations: list[str] | None = None,
    ) -> PolicyVersionPublic:
        body = request_body(
            PolicyPublish,
            requires_acknowledgement=requires_acknowledgement,
            team_ids=team_ids,
            locations=locations or [],
        )
        return await self._send(PUBLISH_POLICY_VERSION, path={"version_id": str(version_id)}, json=body)

    async def policy_progress(self, version_id: uuid.UUID) -> PolicyProgressPublic:
        return await self._send(POLICY_PROGRESS, path={"version_id": str(version_id)})

    async def acknowledge_policy(self, version_id: uuid.UUID, *, content_hash: str | None) -> AcknowledgementPublic:
        body = request_body(AcknowledgementCreate, policy_version_id=version_id, content_hash=content_hash)
        return await self._send(ACKNOWLEDGE_POLICY, json=body)

    async def my_policy_status(self) -> MyPolicyStatus:
        return await self._send(MY_POLICY_STATUS)

    async def create_training_module(self, **values: Any) -> TrainingModulePublic:
        return await self._send(CREATE_TRAINING_MODULE, json=request_body(TrainingModuleCreate, **values))

    async def training_modules(self, page: PageQuery) -> Page[TrainingModulePublic]:
        return await self._send(LIST_TRAINING_MODULES, params=page.params())

    async def get_training_module(self, module_id: uuid.UUID) -> TrainingModulePublic:
        return await self._send(GET_TRAINING_MODULE, path={"module_id": str(module_id)})

    async def submit_quiz_attempt(self, module_id: uuid.UUID, *, answers: list[list[int]]) -> QuizAttemptPublic:
        body = request_body(QuizAttemptCreate, answers=answers)
        return await self._send(SUBMIT_QUIZ_ATTEMPT, path={"module_id": str(module_id)}, json=body)

    async def get_quiz_attempt(self, attempt_id: uuid.UUID) -> QuizAttemptPublic:
        return await self._send(GET_QUIZ_ATTEMPT, path={"attempt_id": str(attempt_id)})

    async def training_progress(self, module_id: uuid.UUID) -> TrainingProgressPublic:
        return await self._send(TRAINING_PROGRESS, path={"module_id": str(module_id)})

    async def my_training_status(self) -> MyTrainingStatus:
        return await self._send(MY_TRAINING_STATUS)

    # --- the audit log and the near-duplicate guard (issue 8) ---

    async def audit_entries(self, page: PageQuery, *, kind: str | None = None) -> Page[AuditEntryPublic]:
        params = page.params() | ({"kind": kind} if kind is not None else {})
        return await self._send(LIST_AUDIT_ENTRIES, params=params)

    async def verify_audit_chain(self) -> AuditVerification:
        return await self._send(VERIFY_AUDIT_CHAIN)

    async def audit_retention(self) -> RetentionPublic:
        return await self._send(GET_AUDIT_RETENTION)

    async def update_audit_retention(self, *, retention_days: int) -> RetentionPublic:
        return await self._send(
            UPDATE_AUDIT_RETENTION, json=request_body(RetentionUpdate, retention_days=retention_days)
        )

    async def near_duplicate_settings(self) -> NearDuplicateSettingsPublic:
        return await self._send(GET_NEAR_DUPLICATE_SETTINGS)

    async def update_near_duplicate_settings(self, **values: Any) -> NearDuplicateSettingsPublic:
        return await self._send(
            UPDATE_NEAR_DUPLICATE_SETTINGS, json=request_body(NearDuplicateSettingsUpdate, **values)
        )


class SharingClient(ServiceClient):
    service = "sharing"

    async def create_share(
        self, *, content_id: uuid.UUID, network: str, text: str, idempotency_key: str | None = None
    ) -> SharePublic:
        body = request_body(ShareCreate, content_id=content_id, network=network, text=text)
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key is not None else None
        return await self._send(CREATE_SHARE, json=body, headers=headers)

    async def get_share(self, share_id: uuid.UUID) -> SharePublic:
        return await self._send(GET_SHARE, path={"share_id": str(share_id)})

    async def my_shares(self, page: PageQuery, *, content_id: uuid.UUID | None = None) -> Page[SharePublic]:
        params = {**page.params(), "content_id": str(content_id) if content_id else None}
        return await self._send(LIST_MY_SHARES, params=params)

    async def create_connection(self, *, network: str, handle: str, audience_size: int) -> ConnectionPublic:
        body = request_body(ConnectionCreate, network=network, handle=handle, audience_size=audience_size)
        return await self._send(CREATE_CONNECTION, json=body)

    async def my_connections(self) -> list[ConnectionPublic]:
        return await self._send(LIST_MY_CONNECTIONS)

    async def delete_connection(self, connection_id: uuid.UUID) -> None:
        await self._send(DELETE_CONNECTION, path={"connection_id": str(connection_id)})


class MetricsClient(ServiceClient):
    service = "metrics"
    MAX_BATCH = 100  # the contract's limit for content-stats/batch

    async def content_stats(self, content_ids: list[uuid.UUID]) -> list[ContentStats]:
        if not content_ids:
            return []
        if len(content_ids) > self.MAX_BATCH:
            raise ValueError(f"at most {self.MAX_BATCH} ids a batch")
        body = request_body(ContentStatsBatchRequest, content_ids=content_ids)
        return (await self._send(CONTENT_STATS_BATCH, json=body)).items

    async def summary(self) -> OrgSummary:
        return await self._send(ORG_SUMMARY)


class Services:
    """The four clients, bound to one caller's credentials."""

    def __init__(self, http: ServiceTransport, urls: dict[str, str], credentials: Credentials) -> None:
        self.content = ContentClient(http, urls["content"], credentials)
        self.policy = PolicyClient(http, urls["policy"], credentials)
        self.sharing = SharingClient(http, urls["sharing"], credentials)
        self.metrics = MetricsClient(http, urls["metrics"], credentials)


async def check_health(http: ServiceTransport, name: str, base_url: str) -> None:
    """For the gateway's readiness: the service's process answers ``/healthz``."""
    try:
        response = await http.request("GET", f"{base_url.rstrip('/')}/healthz", headers={}, timeout_seconds=2.0)
    except (ServiceTimeout, ServiceUnreachable) as exc:
        raise RuntimeError(f"{name} unreachable at {base_url}: {type(exc.__cause__).__name__}") from exc
    if response.status != 200:
        raise RuntimeError(f"{name} /healthz answered {response.status}")
