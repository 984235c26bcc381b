"""The demo organisation that ``make run`` seeds into empty databases, through the services' own REST
APIs (so every event flows as it would for real): people and teams, their audiences, published
content, shares in the employees' own words, and some clicks.

It also writes ``.data/demo-users.json``, from which ``make devtoken`` mints tokens for demo users.
"""

from __future__ import annotations

import json
import logging
import random
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from condividi.identity.dev_issuer import DevIssuer

log = logging.getLogger(__name__)

DEMO_ORG = uuid.uuid5(uuid.NAMESPACE_DNS, "demo.condividi.dev")
DOMAIN = "demo.condividi.dev"
TEAMS = ["Engineering", "Sales", "Marketing", "Operations", "People"]
FIRST_NAMES = [
    "Giulia",
    "Marco",
    "Sofia",
    "Luca",
    "Aisha",
    "Chen",
    "Elena",
    "Omar",
    "Priya",
    "Jonas",
    "Maya",
    "Diego",
    "Hana",
    "Tomás",
    "Ines",
    "Kwame",
    "Lea",
    "Ravi",
    "Noor",
    "Sven",
]
LAST_NAMES = ["Rossi", "Bianchi", "Okafor", "Nakamura", "Haddad", "Larsen", "Silva", "Müller", "Kaur", "Dubois"]
CONTENT = [
    ("We opened our first solar-powered plant", "https://example.com/news/solar-plant"),
    ("Our 2026 sustainability report", "https://example.com/reports/sustainability-2026"),
    ("We are hiring 40 engineers in Milan", "https://example.com/careers/milan"),
    ("Customer story: how Lumen cut shipping emissions by 30%", "https://example.com/stories/lumen"),
    ("Five lessons from our open-source year", "https://example.com/blog/open-source-year"),
    ("Join us at the Future of Work summit", "https://example.com/events/future-of-work"),
]
OWN_WORDS = [
    "Proud of what our team built this year. Worth a read:",
    "This one is close to my heart: the people behind it worked for months.",
    "If you're curious about how we work, start here.",
    "Honest numbers, real progress. Have a look.",
    "I learned a lot working on this with my colleagues.",
]
BROWSERS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/130.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0",
]


@dataclass(frozen=True)
class DemoUser:
    subject: str
    org: str
    roles: list[str]
    name: str
    email: str
    team: str | None = None


def demo_users() -> list[DemoUser]:
    org = str(DEMO_ORG)
    staff = [
        DemoUser("demo-admin", org, ["admin", "employee"], "Ada Admin", f"admin@{DOMAIN}"),
        DemoUser("demo-curator", org, ["curator", "employee"], "Carla Curator", f"curator@{DOMAIN}", "Marketing"),
        DemoUser("demo-reviewer", org, ["reviewer", "employee"], "Remo Reviewer", f"reviewer@{DOMAIN}", "People"),
        DemoUser("demo-manager", org, ["manager", "employee"], "Mina Manager", f"manager@{DOMAIN}", "Sales"),
    ]
    employees = []
    for n in range(50):
        first, last = FIRST_NAMES[n % len(FIRST_NAMES)], LAST_NAMES[(n * 7) % len(LAST_NAMES)]
        employees.append(
            DemoUser(
                f"demo-employee-{n + 1:02d}",
                org,
                ["employee"],
                f"{first} {last}",
                f"{first.lower()}.{last.lower()}{n + 1}@{DOMAIN}".replace("ü", "u").replace("á", "a"),
                TEAMS[n % len(TEAMS)],
            )
        )
    return staff + employees


class _Api:
    def __init__(self, issuer: DevIssuer, http: httpx.Client) -> None:
        self.issuer = issuer
        self.http = http

    def auth(self, user: DemoUser) -> dict[str, str]:
        token = self.issuer.mint(
            subject=user.subject, org_id=user.org, roles=user.roles, name=user.name, email=user.email
        )
        return {"Authorization": f"Bearer {token}"}

    def call(self, user: DemoUser, method: str, url: str, **kwargs: Any) -> httpx.Response:
        response = self.http.request(method, url, headers=self.auth(user), **kwargs)
        if response.status_code >= 500:
            response.raise_for_status()
        return response


def write_demo_users(data_dir: Path) -> Path:
    path = data_dir / "demo-users.json"
    path.write_text(json.dumps([asdict(u) for u in demo_users()], indent=2, ensure_ascii=False))
    return path


def seed_demo(urls: dict[str, str], issuer: DevIssuer, data_dir: Path) -> bool:
    """Seeds the demo organisation unless its roster already has people; returns whether it seeded."""
    write_demo_users(data_dir)
    users = demo_users()
    admin, curator = users[0], users[1]
    rng = random.Random(20261126)
    with httpx.Client(timeout=10.0) as http:
        api = _Api(issuer, http)
        existing = api.call(admin, "GET", f"{urls['policy']}/api/v1/members", params={"limit": 1})
        if existing.status_code == 200 and existing.json().get("items"):
            log.info("demo organisation already seeded")
            return False

        team_ids = {}
        for name in TEAMS:
            team = api.call(admin, "POST", f"{urls['policy']}/api/v1/teams", json={"name": name})
            team_ids[name] = team.json()["id"]
        member_ids: dict[str, str] = {}
        for user in users:
            created_member = api.call(
                admin,
                "POST",
                f"{urls['policy']}/api/v1/members",
                json={
                    "subject": user.subject,
                    "email": user.email,
                    "name": user.name,
                    "team_id": team_ids.get(user.team or ""),
                    "roles": user.roles,
                },
            )
            if created_member.status_code == 201:
                member_ids[user.subject] = created_member.json()["id"]

        employees = [u for u in users if u.subject.startswith("demo-employee")]
        for user in employees:
            handle = user.email.split("@")[0]
            # LinkedIn's API reports connections only up to 500, so demo audiences stay within it.
            audiences = {"linkedin": rng.randint(80, 500), "x": rng.randint(20, 4000), "facebook": rng.randint(50, 900)}
            for network in rng.sample(sorted(audiences), k=rng.randint(1, 3)):
                api.call(
                    user,
                    "POST",
                    f"{urls['sharing']}/api/v1/connections",
                    json={"network": network, "handle": handle, "audience_size": audiences[network]},
                )

        content_ids = []
        for title, url in CONTENT:
            created = api.call(
                curator,
                "POST",
                f"{urls['content']}/api/v1/content-items",
                json={"title": title, "url": url, "suggested_caption": f"{title}."},
            )
            item_id = created.json()["id"]
            api.call(curator, "POST", f"{urls['content']}/api/v1/content-items/{item_id}/publish")
            content_ids.append(item_id)
        _seed_captions(api, urls["content"], curator, content_ids[0])

        shares = []
        # Each one shares once; employees[0] is kept for the rejected post below (a second share of
        # the same item to the same network while the first is pending would be a duplicate).
        for user in rng.sample(employees[1:], k=24):
            content_id = rng.choice(content_ids)
            body = {
                "content_id": content_id,
                "network": rng.choice(["linkedin", "x", "facebook"]),
                "text": rng.choice(OWN_WORDS),
            }
            shares.append((user, _share_when_known(api, user, urls["sharing"], body)))
        # One post too long for X, to show a rejection with its reason.
        shares.append(
            (
                employees[0],
                _share_when_known(
                    api,
                    employees[0],
                    urls["sharing"],
                    {"content_id": content_ids[0], "network": "x", "text": "So much to say about this! " * 12},
                ),
            )
        )

        published = [s for s in (_settled(api, u, urls["sharing"], share) for u, share in shares) if s]
        for share in published:
            # Clicked on the local sharing service: PUBLIC_BASE_URL may name a host that does not reach it
            # from here (a tunnel, a short-link domain).
            code = share["tracking_url"].rsplit("/", 1)[1]
            for _ in range(rng.randint(0, 4)):
                # Each click from a visitor of its own (an address of the documentation range, passed as
                # a local proxy would): from this one address they would be repeats and over the rate.
                http.get(
                    f"{urls['sharing']}/r/{code}",
                    headers={
                        "User-Agent": rng.choice(BROWSERS),
                        "X-Forwarded-For": f"198.51.100.{rng.randint(1, 254)}",
                    },
                    follow_redirects=False,
                )
        _seed_governance(api, urls["policy"], admin, users)
        _seed_link_previews(api, urls["content"], curator)
        _seed_audit(api, urls["policy"], admin)
        _seed_library(api, urls["content"], curator, content_ids)
        _seed_audience(api, urls["content"], curator, team_ids)
        _seed_compliance(api, urls["policy"], admin, team_ids)
        _seed_suggestions(api, urls["content"], curator, employees)
        # One employee has left the company: offboarded after sharing, so the roster shows a deactivated
        # member, their token is refused everywhere, and the clicks on their post still count.
        leaver = published[-1]["member_id"] if published else employees[-1].subject
        if leaver in member_ids:
            api.call(admin, "POST", f"{urls['policy']}/api/v1/roster/members/{member_ids[leaver]}/deactivate")
        log.info(
            "seeded the demo organisation",
            extra={"members": len(users), "shares": len(shares), "deactivated": leaver},
        )
    return True


# A draft whose link the link-preview doctor warns about: plain http (not_https), whatever the network;
# what else it finds depends on what the page answers (offline: fetch_failed).
PREVIEW_WARNING_ITEM = ("Visit our plant (old link from the 2019 brochure)", "http://example.com/plant-tour")


def _seed_link_previews(api: _Api, content_url: str, curator: DemoUser) -> None:
    title, url = PREVIEW_WARNING_ITEM
    api.call(
        curator,
        "POST",
        f"{content_url}/api/v1/content-items",
        json={"title": title, "url": url, "suggested_caption": "Come and see how we build."},
    )


def _seed_library(api: _Api, content_url: str, curator: DemoUser, published: list[str]) -> None:
    """The curators' library: the hiring news pinned at the top for two weeks, the summit invitation
    expiring in ten days, a draft, and an item scheduled for tomorrow morning (UTC) with topics and an
    image."""
    items = f"{content_url}/api/v1/content-items"
    now = datetime.now(UTC)
    hiring, summit = published[2], published[5]
    api.call(curator, "PUT", f"{items}/{hiring}/pin", json={"position": 1, "pinned_until": _at(now, days=14)})
    api.call(curator, "PATCH", f"{items}/{summit}", json={"expires_at": _at(now, days=10), "topics": ["events"]})
    api.call(
        curator,
        "POST",
        items,
        json={
            "title": "Draft: our Q4 results in five charts",
            "url": "https://example.com/results/q4",
            "topics": ["results"],
        },
    )
    scheduled = api.call(
        curator,
        "POST",
        items,
        json={
            "title": "Inside our new Turin lab",
            "url": "https://example.com/stories/turin-lab",
            "summary": "A look at the people and the machines of our newest lab.",
            "topics": ["engineering", "turin"],
            "image_url": "https://example.com/images/turin-lab.jpg",
            "image_alt": "Two engineers calibrating a robotic arm in a bright lab",
        },
    ).json()
    tomorrow = (now + timedelta(days=1)).replace(hour=8, minute=0, second=0, microsecond=0)
    api.call(curator, "POST", f"{items}/{scheduled['id']}/publish", json={"publish_at": tomorrow.isoformat()})


def _at(now: datetime, **delta: float) -> str:
    return (now + timedelta(**delta)).isoformat()


# Two campaigns (one whose shares must carry "#ad") and items for some teams only.
CAMPAIGNS = [
    {
        "name": "Solar 2027",
        "goal": "Tell everyone about the solar plant",
        "required_disclosure": "#ad",
        "priority": 5,
        "starts_at": "2027-01-01T00:00:00Z",
        "ends_at": "2027-12-31T00:00:00Z",
    },
    {"name": "Hiring in Milan", "goal": "40 engineers", "priority": 2},
]
TARGETED = [
    # title, url, campaign (index in CAMPAIGNS or None), the teams it is for (empty: everyone)
    ("Solar plant: a day on site", "https://example.com/news/solar-day", 0, []),
    ("Meet the Milan engineering team", "https://example.com/careers/milan-team", 1, ["Engineering"]),
    ("Sales kick-off: the highlights", "https://example.com/news/sales-kickoff", None, ["Sales", "Marketing"]),
]


def _seed_audience(api: _Api, content_url: str, curator: DemoUser, team_ids: dict[str, str]) -> None:
    """Campaigns and targeted items (docs/content.md). Content learns the teams from policy's events, so
    an audience naming a team is retried until content knows it (a few seconds at most)."""
    campaigns = [
        api.call(curator, "POST", f"{content_url}/api/v1/campaigns", json=body).json().get("id") for body in CAMPAIGNS
    ]
    for title, url, campaign, teams in TARGETED:
        item = api.call(
            curator,
            "POST",
            f"{content_url}/api/v1/content-items",
            json={"title": title, "url": url, "suggested_caption": f"{title}."},
        ).json()
        audience = {"audience": {"team_ids": [team_ids[t] for t in teams if t in team_ids]}}
        for _ in range(100):
            answer = api.call(
                curator, "PUT", f"{content_url}/api/v1/content-items/{item['id']}/audience", json=audience
            )
            if answer.status_code != 422:
                break
            time.sleep(0.1)
        if campaign is not None and campaigns[campaign]:
            api.call(curator, "PUT", f"{content_url}/api/v1/campaigns/{campaigns[campaign]}/items/{item['id']}")
        api.call(curator, "POST", f"{content_url}/api/v1/content-items/{item['id']}/publish")


POLICY_TITLE = "Social media policy"
POLICY_BODY = """# Our social media policy

Sharing our news is welcome, never required. When you do:

1. **Write in your own words.** The suggested caption is a start, not the post.
2. **Say you work here** when you talk about our products or results.
3. **Share only what is public.** No drafts, numbers before they are announced, or customer names
   without their consent.
4. **Be kind.** Do not argue on the company's behalf; point people to our official channels.

Questions: ask the People team.
"""
TRAINING = {
    "title": "Sharing on social media: the basics",
    "lessons": [
        {"title": "Your voice", "body": "People follow people. A post in your own words is read; a copy is skipped."},
        {"title": "What is public", "body": "Share what the company has published, nothing more."},
    ],
    "questions": [
        {"prompt": "May you share a draft announcement?", "options": ["Yes", "No"], "correct_options": [1]},
        {
            "prompt": "Which make a good post? (choose all)",
            "options": ["Your own words", "The caption pasted as is", "Saying you work here"],
            "correct_options": [0, 2],
        },
        {
            "prompt": "Someone attacks the company under your post. You...",
            "options": ["argue back", "point them to the official channels"],
            "correct_options": [1],
        },
    ],
    "pass_mark": 67,
    "certification_valid_days": 365,
    # No network requires it in the demo, so every demo member can still share; an admin can create a
    # module with required_for_networks to see the rejection.
    "required_for_networks": [],
}
# The staff and the first 30 employees accepted the policy; the other 20 employees have not, so they see
# the rejection "Read and accept the social media policy (v1) before sharing."
ACCEPTED_BY_EMPLOYEES = 30


def _seed_governance(api: _Api, policy_url: str, admin: DemoUser, users: list[DemoUser]) -> None:
    """Published after the demo shares (which predate the policy), so they stay published."""
    draft = api.call(
        admin, "POST", f"{policy_url}/api/v1/policy-versions", json={"title": POLICY_TITLE, "body": POLICY_BODY}
    ).json()
    api.call(admin, "POST", f"{policy_url}/api/v1/policy-versions/{draft['id']}/publish", json={})
    employees = [u for u in users if u.subject.startswith("demo-employee")]
    staff = [u for u in users if u not in employees]
    for user in staff + employees[:ACCEPTED_BY_EMPLOYEES]:
        api.call(user, "POST", f"{policy_url}/api/v1/policy-acknowledgements", json={"policy_version_id": draft["id"]})
    module = api.call(admin, "POST", f"{policy_url}/api/v1/training-modules", json=TRAINING).json()
    attempts = f"{policy_url}/api/v1/training-modules/{module['id']}/attempts"
    for n, user in enumerate(employees[:13]):
        if n >= 10:  # three fail their first try
            api.call(user, "POST", attempts, json={"answers": [[0], [1], [0]]})
        else:
            api.call(user, "POST", attempts, json={"answers": [[1], [0, 2], [1]]})


def _seed_audit(api: _Api, policy_url: str, admin: DemoUser) -> None:
    """The compliance settings of issue 8's audit work, set explicitly so the audit log shows who set
    them. The demo shares above reuse five captions, so several colleagues' posts on one network are
    near-duplicates: with ``warn`` they went out, each decision carrying the ``near_duplicate`` finding
    (an admin can switch to ``review`` or ``reject`` and share again to see the difference)."""
    api.call(
        admin,
        "PUT",
        f"{policy_url}/api/v1/compliance/near-duplicates",
        json={"enabled": True, "threshold": 0.8, "window_days": 30, "action": "warn"},
    )
    # Seven years, as regulated firms commonly keep communications.
    api.call(admin, "PUT", f"{policy_url}/api/v1/audit/retention", json={"retention_days": 2557})


def compliance_rules(today: date, team_ids: dict[str, str]) -> list[dict[str, Any]]:
    """The demo's compliance rules, one of each kind or more (docs/compliance.md#the-demo): written after
    the demo shares, so those stay as they were decided. The quiet period starts in a month, so the demo
    shares today; the sales team's phrase rule shows a rule narrowed to a team."""
    quiet_start = today + timedelta(days=30)
    sales = team_ids.get("Sales")
    return [
        {
            "kind": "phrases",
            "action": "reject",
            "phrases": ["garantito", "guaranteed returns", "rendement garanti", "risk-free"],
            "message": "Promises of returns are not allowed in posts (financial promotion rules).",
        },
        {"kind": "phrases", "action": "review", "phrases": ["outperform", "price target", "insider"]},
        {
            "kind": "phrases",
            "action": "review",
            "phrases": ["results", "risultati", "earnings"],
            "message": "Sales staff: posts about results are read by Compliance first.",
            **({"team_id": sales} if sales else {}),
        },
        {
            "kind": "pattern",
            "action": "review",
            "pattern": r"\d+(?:[.,]\d+)?\s?%\s*(?:return|yield|rendimento|p\.a\.)",
            "message": "A percentage of return: a reviewer checks it first.",
        },
        {
            "kind": "pattern",
            "action": "warn",
            "pattern": r"\$[A-Z]{1,5}\b",
            "message": "Ticker symbols are best left out.",
        },
        {"kind": "disclosure", "action": "review"},
        {
            "kind": "links",
            "action": "reject",
            "blocked_domains": ["competitor.example.com", "bit.ly"],
            "message": "Link to our own pages, not to competitors or link shorteners.",
        },
        {"kind": "hashtags", "action": "warn", "max_hashtags": 5, "max_mentions": 10, "forbidden_hashtags": ["crypto"]},
        {
            "kind": "quiet_period",
            "action": "review",
            "starts_on": quiet_start.isoformat(),
            "ends_on": (quiet_start + timedelta(days=13)).isoformat(),
            "time_zone": "Europe/Rome",
            "message": "Quiet period before the annual results: posts are read by Compliance first.",
        },
        {"kind": "cap", "action": "reject", "max_shares": 10, "period": "day"},
        {"kind": "cap", "action": "warn", "max_shares": 3, "period": "day", "per_network": True, "network": "x"},
        {"kind": "personal_touch", "action": "review", "minimum_personal_touch": 0.2},
    ]


def _seed_compliance(api: _Api, policy_url: str, admin: DemoUser, team_ids: dict[str, str]) -> None:
    for rule in compliance_rules(datetime.now(UTC).date(), team_ids):
        response = api.call(admin, "POST", f"{policy_url}/api/v1/compliance/rules", json=rule)
        if response.status_code != 201:
            log.warning("a demo compliance rule was refused", extra={"status": response.status_code})


# The solar plant's captions, in English and Italian: LinkedIn and X have their own in English; Italian
# speakers (and "it-CH") get the Italian one on every network; everyone else the item's default.
CAPTIONS = [
    {"network": "linkedin", "text": "Our first solar-powered plant is running. Here is what it took to build it:"},
    {"network": "x", "text": "Our first solar-powered plant is live!"},
    {"language": "it", "text": "Il nostro primo stabilimento a energia solare è operativo!"},
]
# An employee suggestion waiting in the curators' queue, and one declined with the reason its author reads.
SUGGESTIONS = [
    ("https://example.com/blog/robotics-lab", "Our robotics lab was in the local news, great for recruiting."),
    ("https://example.com/internal/roadmap", "The roadmap deck is great, can we share it?"),
]
DECLINE_REASON = "That page is internal only; we will share the public summary next month."


def _seed_captions(api: _Api, content_url: str, curator: DemoUser, item_id: str) -> None:
    api.call(curator, "PUT", f"{content_url}/api/v1/content-items/{item_id}/captions", json={"captions": CAPTIONS})


def _seed_suggestions(api: _Api, content_url: str, curator: DemoUser, employees: list[DemoUser]) -> None:
    made = [
        api.call(author, "POST", f"{content_url}/api/v1/suggestions", json={"url": url, "note": note}).json()
        for author, (url, note) in zip(employees[2:4], SUGGESTIONS, strict=True)
    ]
    declined = made[1]["id"]
    api.call(curator, "POST", f"{content_url}/api/v1/suggestions/{declined}/decline", json={"reason": DECLINE_REASON})


def _share_when_known(api: _Api, user: DemoUser, sharing_url: str, body: dict[str, Any]) -> dict[str, Any]:
    # Content reaches sharing through ContentPublished; right after publishing it may not be there yet.
    for _ in range(100):
        response = api.call(user, "POST", f"{sharing_url}/api/v1/shares", json=body)
        if response.status_code == 202:
            return dict(response.json())
        time.sleep(0.1)
    raise RuntimeError(f"could not create a demo share: {response.status_code} {response.text}")


def _settled(api: _Api, user: DemoUser, sharing_url: str, share: dict[str, Any]) -> dict[str, Any] | None:
    """Waits for policy's decision; returns the share if it was published."""
    for _ in range(100):
        current = api.call(user, "GET", f"{sharing_url}/api/v1/shares/{share['id']}").json()
        if current["status"] != "pending_policy":
            return dict(current) if current["status"] == "published" else None
        time.sleep(0.1)
    return None
