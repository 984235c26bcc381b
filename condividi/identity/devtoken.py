"""Mints a development token from the local issuer's key, for curl, GraphiQL or a frontend in development
(``make devtoken ARGS="--email curator@demo.condividi.dev"``).

Either name the caller in full (``--subject S --org ORG_UUID --roles employee,curator``) or give only
``--email`` of a demo user the seed wrote to ``.data/demo-users.json``; ``--list`` shows those users.
The token alone goes to stdout, so ``TOKEN=$(make devtoken ARGS=...)`` works; errors go to stderr.

The token must name the issuer the running stack trusts, which follows the gateway's port
(``GATEWAY_PORT=8100 make run``): while it runs, the launcher records its issuer, audience and key in
``.data/stack.json``, and that is what a token is minted for. Explicit ``--issuer``/``--audience`` win;
with no stack running, ``OIDC_ISSUER``/``OIDC_AUDIENCE``/``GATEWAY_PORT`` or the defaults decide.

This module is also where the local data folder is located, so that the launcher (which writes the key,
the demo users and the stack file) and this CLI (which reads them) can never disagree about where they
are."""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from condividi.identity.caller import Role
from condividi.identity.dev_issuer import DevIssuer

ROOT = Path(__file__).resolve().parents[2]
AUDIENCE = "condividi"
DEFAULT_TTL_SECONDS = 8 * 3600


def data_dir() -> Path:
    """``.data/`` at the repository root (``make clean`` wipes it), or ``CONDIVIDI_DATA_DIR``."""
    override = os.environ.get("CONDIVIDI_DATA_DIR")
    return Path(override).expanduser().resolve() if override else ROOT / ".data"


def key_file() -> Path:
    override = os.environ.get("DEV_ISSUER_KEY_FILE")
    return Path(override).expanduser() if override else data_dir() / "dev-issuer" / "key.pem"


def demo_users_file() -> Path:
    return data_dir() / "demo-users.json"


def stack_file() -> Path:
    """Written by the launcher while a stack runs (removed when it stops)."""
    return data_dir() / "stack.json"


@dataclass(frozen=True)
class RunningStack:
    """What a token for the running stack must match: its issuer and audience, and the key its
    gateway serves in the JWKS."""

    pid: int
    issuer: str
    audience: str
    key_file: Path
    ports: dict[str, int]

    def to_json(self) -> str:
        return json.dumps(
            {
                "pid": self.pid,
                "issuer": self.issuer,
                "audience": self.audience,
                "key_file": str(self.key_file),
                "ports": self.ports,
            },
            indent=2,
        )


def read_running_stack(path: Path) -> RunningStack | None:
    """The stack the launcher recorded, or None when there is none running: no file, a damaged one, or
    one left by a launcher that was killed before it could remove it (its pid is gone)."""
    try:
        raw = json.loads(path.read_text())
        stack = RunningStack(
            pid=int(raw["pid"]),
            issuer=str(raw["issuer"]),
            audience=str(raw["audience"]),
            key_file=Path(str(raw["key_file"])),
            ports={str(k): int(v) for k, v in dict(raw.get("ports", {})).items()},
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return stack if _pid_alive(stack.pid) else None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, someone else's
    return True


def issuer_url(gateway_port: int | None = None) -> str:
    """The gateway serves the development issuer, so its URL follows the gateway's port."""
    port = gateway_port if gateway_port is not None else int(os.environ.get("GATEWAY_PORT", "8000"))
    return f"http://localhost:{port}/dev-issuer"


@dataclass(frozen=True)
class DemoUser:
    subject: str
    org: str
    roles: list[str]
    name: str = ""
    email: str = ""


class DevTokenError(Exception):
    """A mistake in the arguments or the local files; shown to the user without a traceback."""


def load_demo_users(path: Path) -> list[DemoUser]:
    if not path.exists():
        raise DevTokenError(
            f"{path} does not exist: it is written by the demo seed when `make run` starts the stack. "
            "Start it first, or pass --subject, --org and --roles."
        )
    try:
        raw = json.loads(path.read_text())
        return [
            DemoUser(
                subject=str(entry["subject"]),
                org=str(entry["org"]),
                roles=[str(r) for r in entry["roles"]],
                name=str(entry.get("name", "")),
                email=str(entry.get("email", "")),
            )
            for entry in raw
        ]
    except (ValueError, TypeError, KeyError) as exc:
        raise DevTokenError(f"{path} is not a JSON list of {{subject, org, roles, name, email}}: {exc}") from exc


def find_demo_user(users: Sequence[DemoUser], email: str) -> DemoUser:
    wanted = email.strip().lower()
    for user in users:
        if user.email.lower() == wanted:
            return user
    known = ", ".join(u.email for u in users) or "none"
    raise DevTokenError(f"no demo user with email {email!r} (known: {known}); see --list")


def parse_roles(value: str) -> list[str]:
    roles = [r.strip() for r in value.split(",") if r.strip()]
    valid = {r.value for r in Role}
    unknown = [r for r in roles if r not in valid]
    if not roles or unknown:
        raise DevTokenError(f"roles must be a comma-separated subset of {', '.join(sorted(valid))}; got {value!r}")
    return roles


def load_issuer(path: Path, issuer: str, audience: str = AUDIENCE) -> DevIssuer:
    # DevIssuer would create a missing key, but a token signed with a key the stack does not serve is
    # useless and confusing, so a missing file is an error here; the launcher is what creates it.
    if not path.exists():
        raise DevTokenError(
            f"no development issuer key at {path}: `make run` creates it on start "
            "(or set DEV_ISSUER_KEY_FILE to the key the stack uses)"
        )
    return DevIssuer(path, issuer=issuer, audience=audience)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="make devtoken ARGS=...",
        description="Print a development JWT signed by the local issuer.",
    )
    parser.add_argument("--subject", help="the token's sub (the person's id at the identity provider)")
    parser.add_argument("--org", help="the organisation's UUID")
    parser.add_argument("--roles", help="comma-separated: admin, curator, reviewer, manager, employee")
    parser.add_argument("--ttl", type=int, default=DEFAULT_TTL_SECONDS, help="lifetime in seconds (default 8h)")
    parser.add_argument("--name", default=None)
    parser.add_argument("--email", default=None, help="alone: mint for the demo user with this email")
    parser.add_argument("--list", action="store_true", help="list the demo users written by the seed")
    parser.add_argument("--issuer", help="the token's iss (default: the running stack's issuer)")
    parser.add_argument("--audience", help="the token's aud (default: the running stack's audience)")
    return parser


def format_users(users: Sequence[DemoUser]) -> str:
    lines = [f"{'email':40} {'roles':32} {'org':36} subject"]
    lines += [f"{u.email:40} {','.join(u.roles):32} {u.org:36} {u.subject}" for u in users]
    return "\n".join(lines)


def run(argv: Sequence[str] | None = None) -> str:
    """Does what the command line asks and returns what to print (the token, or the user list)."""
    options = build_parser().parse_args(argv)
    if options.list:
        return format_users(load_demo_users(demo_users_file()))
    if options.ttl <= 0:
        raise DevTokenError("--ttl must be a positive number of seconds")

    full = (options.subject, options.org, options.roles)
    if all(v is None for v in full):
        if not options.email:
            raise DevTokenError("give --email of a demo user, or all of --subject, --org and --roles (see --help)")
        user = find_demo_user(load_demo_users(demo_users_file()), options.email)
        subject, org, roles = user.subject, user.org, user.roles
        name = options.name if options.name is not None else user.name
        email = user.email
    elif any(v is None for v in full):
        raise DevTokenError("--subject, --org and --roles go together: give all three, or only --email")
    else:
        subject, org, roles = options.subject, options.org, parse_roles(options.roles)
        name, email = options.name or "", options.email or ""

    try:
        org = str(uuid.UUID(org))
    except ValueError as exc:
        raise DevTokenError(f"--org must be a UUID, got {org!r}") from exc
    running = read_running_stack(stack_file())
    if running is not None:
        issuer_name, audience, key = running.issuer, running.audience, running.key_file
    else:
        issuer_name = os.environ.get("OIDC_ISSUER") or issuer_url()
        audience, key = os.environ.get("OIDC_AUDIENCE") or AUDIENCE, key_file()
    issuer = load_issuer(key, options.issuer or issuer_name, options.audience or audience)
    return issuer.mint(subject=subject, org_id=org, roles=roles, ttl_seconds=options.ttl, name=name, email=email)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        print(run(argv))
    except DevTokenError as exc:
        print(f"devtoken: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
