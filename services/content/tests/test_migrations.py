from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel

from condividi.testing import Infra
from services.content.models import Campaign, ContentCaption, ContentItem, ContentRevision, Suggestion

MODELS = (Campaign, ContentItem, ContentRevision, ContentCaption, Suggestion)
TABLES = {table.__tablename__ for table in MODELS} | {"outbox", "inbox"}


async def test_migrations_create_what_the_models_describe(infra: Infra) -> None:
    # SQLModel's metadata holds every model imported in this process (other services' too): only the
    # content service's tables are compared, both ways.
    def ours(obj: Any, name: str | None, kind: str, reflected: bool, compare_to: Any) -> bool:
        if kind == "index" and name == "outbox_unpublished":
            return False  # a partial index create_messaging_tables() adds; the shared model does not declare it
        table = obj if kind == "table" else getattr(obj, "table", None)
        return table is None or table.name in TABLES

    def differences(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"include_object": ours, "compare_type": True})
        return list(compare_metadata(context, SQLModel.metadata))

    engine = create_async_engine(infra.new_database("content"))
    try:
        async with engine.connect() as connection:
            assert await connection.run_sync(differences) == []
    finally:
        await engine.dispose()
