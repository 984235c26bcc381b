from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PublishMethod(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PUBLISH_METHOD_UNSPECIFIED: _ClassVar[PublishMethod]
    PUBLISH_METHOD_API: _ClassVar[PublishMethod]
    PUBLISH_METHOD_INTENT: _ClassVar[PublishMethod]
PUBLISH_METHOD_UNSPECIFIED: PublishMethod
PUBLISH_METHOD_API: PublishMethod
PUBLISH_METHOD_INTENT: PublishMethod

class ShareRequested(_message.Message):
    __slots__ = ("share_id", "member_id", "content_id", "network", "text", "url", "campaign_id", "required_disclosure", "personal_touch")
    SHARE_ID_FIELD_NUMBER: _ClassVar[int]
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    CONTENT_ID_FIELD_NUMBER: _ClassVar[int]
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_DISCLOSURE_FIELD_NUMBER: _ClassVar[int]
    PERSONAL_TOUCH_FIELD_NUMBER: _ClassVar[int]
    share_id: str
    member_id: str
    content_id: str
    network: str
    text: str
    url: str
    campaign_id: str
    required_disclosure: str
    personal_touch: float
    def __init__(self, share_id: _Optional[str] = ..., member_id: _Optional[str] = ..., content_id: _Optional[str] = ..., network: _Optional[str] = ..., text: _Optional[str] = ..., url: _Optional[str] = ..., campaign_id: _Optional[str] = ..., required_disclosure: _Optional[str] = ..., personal_touch: _Optional[float] = ...) -> None: ...

class SharePublished(_message.Message):
    __slots__ = ("share_id", "member_id", "content_id", "network", "method", "intent_url", "tracking_code", "potential_reach")
    SHARE_ID_FIELD_NUMBER: _ClassVar[int]
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    CONTENT_ID_FIELD_NUMBER: _ClassVar[int]
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    INTENT_URL_FIELD_NUMBER: _ClassVar[int]
    TRACKING_CODE_FIELD_NUMBER: _ClassVar[int]
    POTENTIAL_REACH_FIELD_NUMBER: _ClassVar[int]
    share_id: str
    member_id: str
    content_id: str
    network: str
    method: PublishMethod
    intent_url: str
    tracking_code: str
    potential_reach: int
    def __init__(self, share_id: _Optional[str] = ..., member_id: _Optional[str] = ..., content_id: _Optional[str] = ..., network: _Optional[str] = ..., method: _Optional[_Union[PublishMethod, str]] = ..., intent_url: _Optional[str] = ..., tracking_code: _Optional[str] = ..., potential_reach: _Optional[int] = ...) -> None: ...

class ShareRejected(_message.Message):
    __slots__ = ("share_id", "member_id", "content_id", "reason_codes")
    SHARE_ID_FIELD_NUMBER: _ClassVar[int]
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    CONTENT_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_CODES_FIELD_NUMBER: _ClassVar[int]
    share_id: str
    member_id: str
    content_id: str
    reason_codes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, share_id: _Optional[str] = ..., member_id: _Optional[str] = ..., content_id: _Optional[str] = ..., reason_codes: _Optional[_Iterable[str]] = ...) -> None: ...

class LinkClicked(_message.Message):
    __slots__ = ("tracking_code", "share_id", "content_id", "member_id", "network", "visitor_hash")
    TRACKING_CODE_FIELD_NUMBER: _ClassVar[int]
    SHARE_ID_FIELD_NUMBER: _ClassVar[int]
    CONTENT_ID_FIELD_NUMBER: _ClassVar[int]
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    VISITOR_HASH_FIELD_NUMBER: _ClassVar[int]
    tracking_code: str
    share_id: str
    content_id: str
    member_id: str
    network: str
    visitor_hash: str
    def __init__(self, tracking_code: _Optional[str] = ..., share_id: _Optional[str] = ..., content_id: _Optional[str] = ..., member_id: _Optional[str] = ..., network: _Optional[str] = ..., visitor_hash: _Optional[str] = ...) -> None: ...
