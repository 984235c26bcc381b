from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class ContentPublished(_message.Message):
    __slots__ = ("content_id", "title", "url", "summary", "suggested_caption", "published_by")
    CONTENT_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    SUGGESTED_CAPTION_FIELD_NUMBER: _ClassVar[int]
    PUBLISHED_BY_FIELD_NUMBER: _ClassVar[int]
    content_id: str
    title: str
    url: str
    summary: str
    suggested_caption: str
    published_by: str
    def __init__(self, content_id: _Optional[str] = ..., title: _Optional[str] = ..., url: _Optional[str] = ..., summary: _Optional[str] = ..., suggested_caption: _Optional[str] = ..., published_by: _Optional[str] = ...) -> None: ...
