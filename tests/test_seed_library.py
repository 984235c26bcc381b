"""The demo seed's library (condividi/devstack/seed.py, ``_seed_library``) on the running system: a
pinned item, an item with an expiry, a draft and a scheduled item, all accepted by the services."""

from __future__ import annotations

import uuid

import httpx

from condividi.devstack.seed import DemoUser, _Api, _seed_library
from condividi.identity import Role
from condividi.testing import RunningSystem


def test_the_seeds_library(system: RunningSystem) -> None:
    org = uuid.uuid4()
    curator = DemoUser(f"seed-curator-{org.hex[:6]}", str(org), ["curator"], "Cora", "cora@acme.example")
    content = f"{system.urls['content']}/api/v1/content-items"
    headers = system.issuer.headers(org=org, roles=[Role.CURATOR], subject=curator.subject)
    published = []
    for n in range(6):
        item = httpx.post(content, json={"title": f"News {n}", "url": f"https://acme.example/{n}"}, headers=headers)
        httpx.post(f"{content}/{item.json()['id']}/publish", headers=headers).raise_for_status()
        published.append(item.json()["id"])
    with httpx.Client(timeout=10) as http:
        _seed_library(_Api(system.issuer.issuer, http), system.urls["content"], curator, published)

    library = httpx.get(content, params={"limit": 20}, headers=headers).json()["items"]
    by_id = {i["id"]: i for i in library}
    assert by_id[published[2]]["pinned_position"] == 1 and by_id[published[2]]["pinned_until"]
    assert by_id[published[5]]["expires_at"] and by_id[published[5]]["revision"] == 2
    statuses = sorted(i["status"] for i in library)
    assert statuses.count("published") == 6 and "draft" in statuses and "scheduled" in statuses
    [scheduled] = [i for i in library if i["status"] == "scheduled"]
    assert scheduled["publish_at"] and scheduled["image_alt"] and scheduled["topics"] == ["engineering", "turin"]
