from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DecisionOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DECISION_OUTCOME_UNSPECIFIED: _ClassVar[DecisionOutcome]
    DECISION_OUTCOME_APPROVED: _ClassVar[DecisionOutcome]
    DECISION_OUTCOME_REJECTED: _ClassVar[DecisionOutcome]
    DECISION_OUTCOME_NEEDS_REVIEW: _ClassVar[DecisionOutcome]

class DeactivationSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DEACTIVATION_SOURCE_UNSPECIFIED: _ClassVar[DeactivationSource]
    DEACTIVATION_SOURCE_SCIM: _ClassVar[DeactivationSource]
    DEACTIVATION_SOURCE_SCIM_DELETE: _ClassVar[DeactivationSource]
    DEACTIVATION_SOURCE_CSV: _ClassVar[DeactivationSource]
    DEACTIVATION_SOURCE_ADMIN: _ClassVar[DeactivationSource]
DECISION_OUTCOME_UNSPECIFIED: DecisionOutcome
DECISION_OUTCOME_APPROVED: DecisionOutcome
DECISION_OUTCOME_REJECTED: DecisionOutcome
DECISION_OUTCOME_NEEDS_REVIEW: DecisionOutcome
DEACTIVATION_SOURCE_UNSPECIFIED: DeactivationSource
DEACTIVATION_SOURCE_SCIM: DeactivationSource
DEACTIVATION_SOURCE_SCIM_DELETE: DeactivationSource
DEACTIVATION_SOURCE_CSV: DeactivationSource
DEACTIVATION_SOURCE_ADMIN: DeactivationSource

class Violation(_message.Message):
    __slots__ = ("code", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: str
    message: str
    def __init__(self, code: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class ShareDecision(_message.Message):
    __slots__ = ("share_id", "outcome", "violations")
    SHARE_ID_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    VIOLATIONS_FIELD_NUMBER: _ClassVar[int]
    share_id: str
    outcome: DecisionOutcome
    violations: _containers.RepeatedCompositeFieldContainer[Violation]
    def __init__(self, share_id: _Optional[str] = ..., outcome: _Optional[_Union[DecisionOutcome, str]] = ..., violations: _Optional[_Iterable[_Union[Violation, _Mapping]]] = ...) -> None: ...

class MemberUpserted(_message.Message):
    __slots__ = ("member_id", "subject", "email", "name", "team_ids", "location", "language", "time_zone", "department", "title", "manager_subject", "roles", "active")
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TEAM_IDS_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENT_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    MANAGER_SUBJECT_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    member_id: str
    subject: str
    email: str
    name: str
    team_ids: _containers.RepeatedScalarFieldContainer[str]
    location: str
    language: str
    time_zone: str
    department: str
    title: str
    manager_subject: str
    roles: _containers.RepeatedScalarFieldContainer[str]
    active: bool
    def __init__(self, member_id: _Optional[str] = ..., subject: _Optional[str] = ..., email: _Optional[str] = ..., name: _Optional[str] = ..., team_ids: _Optional[_Iterable[str]] = ..., location: _Optional[str] = ..., language: _Optional[str] = ..., time_zone: _Optional[str] = ..., department: _Optional[str] = ..., title: _Optional[str] = ..., manager_subject: _Optional[str] = ..., roles: _Optional[_Iterable[str]] = ..., active: _Optional[bool] = ...) -> None: ...

class MemberDeactivated(_message.Message):
    __slots__ = ("member_id", "subject", "source")
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    member_id: str
    subject: str
    source: DeactivationSource
    def __init__(self, member_id: _Optional[str] = ..., subject: _Optional[str] = ..., source: _Optional[_Union[DeactivationSource, str]] = ...) -> None: ...

class TeamChanged(_message.Message):
    __slots__ = ("team_id", "name", "deleted")
    TEAM_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DELETED_FIELD_NUMBER: _ClassVar[int]
    team_id: str
    name: str
    deleted: bool
    def __init__(self, team_id: _Optional[str] = ..., name: _Optional[str] = ..., deleted: _Optional[bool] = ...) -> None: ...
