"""The ceiling for a read: a FastAPI route that answers the same page as the content service's feed,
with the same response model, from memory (no token, no database, no middleware). Served by the same
uvicorn with the same flags as the service. The page is read at start from ``BENCH_FEED_PAGE`` (a JSON
file holding the real feed's answer)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from fastapi import FastAPI

from condividi.pagination import Page
from services.content.feed import FeedItem

app = FastAPI()
_PAGE = Page[FeedItem].model_validate(json.loads(Path(os.environ["BENCH_FEED_PAGE"]).read_text()))


@app.get("/api/v1/feed")
async def feed(limit: int = 20, cursor: str | None = None) -> Page[FeedItem]:
    return Page[FeedItem](items=_PAGE.items[:limit], next_cursor=_PAGE.next_cursor)
