"""Alembic, driven from code: every service keeps its migrations in ``services/<name>/migrations``
and they run through here (``python -m condividi.migrations <service>``, or ``upgrade()``)."""

from __future__ import annotations

import argparse
import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from condividi.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[1]


def alembic_config(service: str, database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(ROOT / "services" / service / "migrations"))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(service: str, database_url: str, revision: str = "head") -> None:
    config = alembic_config(service, ServiceSettings(DATABASE_URL=database_url).DATABASE_URL)
    # env.py drives the async engine with asyncio.run, which cannot nest in a running event loop (a
    # test's, or an app's); a thread of its own always has none.
    with ThreadPoolExecutor(max_workers=1) as worker:
        worker.submit(command.upgrade, config, revision).result()


def run_migrations_in_env() -> None:
    """The whole body of each service's ``env.py``."""
    url = context.config.get_main_option("sqlalchemy.url")
    assert url is not None

    def run(connection: Connection) -> None:
        # Replicas starting together each run migrations; one at a time, the others then find nothing
        # to do. A session lock, released when the connection closes.
        connection.execute(text("SELECT pg_advisory_lock(hashtext('condividi-migrations'))"))
        connection.commit()
        context.configure(connection=connection, target_metadata=None)
        with context.begin_transaction():
            context.run_migrations()

    async def run_async() -> None:
        engine = create_async_engine(url, poolclass=pool.NullPool)
        async with engine.connect() as connection:
            await connection.run_sync(run)
        await engine.dispose()

    asyncio.run(run_async())


def main() -> None:
    parser = argparse.ArgumentParser(description="Apply a service's migrations to its database.")
    parser.add_argument("service", choices=["content", "policy", "sharing", "metrics"])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--revision", default="head")
    options = parser.parse_args()
    if not options.database_url:
        parser.error("set DATABASE_URL or pass --database-url")
    upgrade(options.service, options.database_url, options.revision)


if __name__ == "__main__":
    main()
