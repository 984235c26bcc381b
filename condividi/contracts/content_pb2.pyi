import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ContentPublished(_message.Message):
    __slots__ = ("content_id", "title", "url", "summary", "suggested_caption", "published_by", "campaign_id", "utm_campaign", "required_disclosure", "expires_at", "topics", "revision", "image_url", "image_alt", "required_certification_id", "target_team_ids", "target_locations", "target_languages", "target_roles", "campaign_target_team_ids", "campaign_target_locations", "campaign_target_languages", "campaign_target_roles", "captions")
    CONTENT_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    SUGGESTED_CAPTION_FIELD_NUMBER: _ClassVar[int]
    PUBLISHED_BY_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    UTM_CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_DISCLOSURE_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    TOPICS_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    IMAGE_URL_FIELD_NUMBER: _ClassVar[int]
    IMAGE_ALT_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_CERTIFICATION_ID_FIELD_NUMBER: _ClassVar[int]
    TARGET_TEAM_IDS_FIELD_NUMBER: _ClassVar[int]
    TARGET_LOCATIONS_FIELD_NUMBER: _ClassVar[int]
    TARGET_LANGUAGES_FIELD_NUMBER: _ClassVar[int]
    TARGET_ROLES_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_TARGET_TEAM_IDS_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_TARGET_LOCATIONS_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_TARGET_LANGUAGES_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_TARGET_ROLES_FIELD_NUMBER: _ClassVar[int]
    CAPTIONS_FIELD_NUMBER: _ClassVar[int]
    content_id: str
    title: str
    url: str
    summary: str
    suggested_caption: str
    published_by: str
    campaign_id: str
    utm_campaign: str
    required_disclosure: str
    expires_at: _timestamp_pb2.Timestamp
    topics: _containers.RepeatedScalarFieldContainer[str]
    revision: int
    image_url: str
    image_alt: str
    required_certification_id: str
    target_team_ids: _containers.RepeatedScalarFieldContainer[str]
    target_locations: _containers.RepeatedScalarFieldContainer[str]
    target_languages: _containers.RepeatedScalarFieldContainer[str]
    target_roles: _containers.RepeatedScalarFieldContainer[str]
    campaign_target_team_ids: _containers.RepeatedScalarFieldContainer[str]
    campaign_target_locations: _containers.RepeatedScalarFieldContainer[str]
    campaign_target_languages: _containers.RepeatedScalarFieldContainer[str]
    campaign_target_roles: _containers.RepeatedScalarFieldContainer[str]
    captions: _containers.RepeatedCompositeFieldContainer[Caption]
    def __init__(self, content_id: _Optional[str] = ..., title: _Optional[str] = ..., url: _Optional[str] = ..., summary: _Optional[str] = ..., suggested_caption: _Optional[str] = ..., published_by: _Optional[str] = ..., campaign_id: _Optional[str] = ..., utm_campaign: _Optional[str] = ..., required_disclosure: _Optional[str] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., topics: _Optional[_Iterable[str]] = ..., revision: _Optional[int] = ..., image_url: _Optional[str] = ..., image_alt: _Optional[str] = ..., required_certification_id: _Optional[str] = ..., target_team_ids: _Optional[_Iterable[str]] = ..., target_locations: _Optional[_Iterable[str]] = ..., target_languages: _Optional[_Iterable[str]] = ..., target_roles: _Optional[_Iterable[str]] = ..., campaign_target_team_ids: _Optional[_Iterable[str]] = ..., campaign_target_locations: _Optional[_Iterable[str]] = ..., campaign_target_languages: _Optional[_Iterable[str]] = ..., campaign_target_roles: _Optional[_Iterable[str]] = ..., captions: _Optional[_Iterable[_Union[Caption, _Mapping]]] = ...) -> None: ...

class Caption(_message.Message):
    __slots__ = ("network", "language", "text")
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    network: str
    language: str
    text: str
    def __init__(self, network: _Optional[str] = ..., language: _Optional[str] = ..., text: _Optional[str] = ...) -> None: ...

class ContentWithdrawn(_message.Message):
    __slots__ = ("content_id", "reason")
    CONTENT_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    content_id: str
    reason: str
    def __init__(self, content_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class CampaignChanged(_message.Message):
    __slots__ = ("campaign_id", "name", "utm_campaign", "required_disclosure", "required_certification_id", "priority", "archived", "starts_at", "ends_at", "target_team_ids", "target_locations", "target_languages", "target_roles", "content_ids", "removed_content_ids")
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    UTM_CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_DISCLOSURE_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_CERTIFICATION_ID_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    ARCHIVED_FIELD_NUMBER: _ClassVar[int]
    STARTS_AT_FIELD_NUMBER: _ClassVar[int]
    ENDS_AT_FIELD_NUMBER: _ClassVar[int]
    TARGET_TEAM_IDS_FIELD_NUMBER: _ClassVar[int]
    TARGET_LOCATIONS_FIELD_NUMBER: _ClassVar[int]
    TARGET_LANGUAGES_FIELD_NUMBER: _ClassVar[int]
    TARGET_ROLES_FIELD_NUMBER: _ClassVar[int]
    CONTENT_IDS_FIELD_NUMBER: _ClassVar[int]
    REMOVED_CONTENT_IDS_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    name: str
    utm_campaign: str
    required_disclosure: str
    required_certification_id: str
    priority: int
    archived: bool
    starts_at: _timestamp_pb2.Timestamp
    ends_at: _timestamp_pb2.Timestamp
    target_team_ids: _containers.RepeatedScalarFieldContainer[str]
    target_locations: _containers.RepeatedScalarFieldContainer[str]
    target_languages: _containers.RepeatedScalarFieldContainer[str]
    target_roles: _containers.RepeatedScalarFieldContainer[str]
    content_ids: _containers.RepeatedScalarFieldContainer[str]
    removed_content_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, campaign_id: _Optional[str] = ..., name: _Optional[str] = ..., utm_campaign: _Optional[str] = ..., required_disclosure: _Optional[str] = ..., required_certification_id: _Optional[str] = ..., priority: _Optional[int] = ..., archived: _Optional[bool] = ..., starts_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., ends_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., target_team_ids: _Optional[_Iterable[str]] = ..., target_locations: _Optional[_Iterable[str]] = ..., target_languages: _Optional[_Iterable[str]] = ..., target_roles: _Optional[_Iterable[str]] = ..., content_ids: _Optional[_Iterable[str]] = ..., removed_content_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class SuggestionSubmitted(_message.Message):
    __slots__ = ("suggestion_id", "url", "note", "suggested_by")
    SUGGESTION_ID_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    SUGGESTED_BY_FIELD_NUMBER: _ClassVar[int]
    suggestion_id: str
    url: str
    note: str
    suggested_by: str
    def __init__(self, suggestion_id: _Optional[str] = ..., url: _Optional[str] = ..., note: _Optional[str] = ..., suggested_by: _Optional[str] = ...) -> None: ...

class SuggestionAccepted(_message.Message):
    __slots__ = ("suggestion_id", "content_id", "suggested_by", "accepted_by")
    SUGGESTION_ID_FIELD_NUMBER: _ClassVar[int]
    CONTENT_ID_FIELD_NUMBER: _ClassVar[int]
    SUGGESTED_BY_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_BY_FIELD_NUMBER: _ClassVar[int]
    suggestion_id: str
    content_id: str
    suggested_by: str
    accepted_by: str
    def __init__(self, suggestion_id: _Optional[str] = ..., content_id: _Optional[str] = ..., suggested_by: _Optional[str] = ..., accepted_by: _Optional[str] = ...) -> None: ...

class SuggestionDeclined(_message.Message):
    __slots__ = ("suggestion_id", "suggested_by", "declined_by", "reason")
    SUGGESTION_ID_FIELD_NUMBER: _ClassVar[int]
    SUGGESTED_BY_FIELD_NUMBER: _ClassVar[int]
    DECLINED_BY_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    suggestion_id: str
    suggested_by: str
    declined_by: str
    reason: str
    def __init__(self, suggestion_id: _Optional[str] = ..., suggested_by: _Optional[str] = ..., declined_by: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...
