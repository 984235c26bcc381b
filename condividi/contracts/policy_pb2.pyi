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
DECISION_OUTCOME_UNSPECIFIED: DecisionOutcome
DECISION_OUTCOME_APPROVED: DecisionOutcome
DECISION_OUTCOME_REJECTED: DecisionOutcome
DECISION_OUTCOME_NEEDS_REVIEW: DecisionOutcome

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
