from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel

from condividi.testing import Infra
from services.content.previews.models import LinkPreview


async def test_migration_0007_creates_what_the_link_preview_model_describes(infra: Infra) -> None:
    def ours(obj: Any, name: str | None, kind: str, reflected: bool, compare_to: Any) -> bool:
        table = obj if kind == "table" else getattr(obj, "table", None)
        return table is None or table.name == LinkPreview.__tablename__

    def differences(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"include_object": ours, "compare_type": True})
        return list(compare_metadata(context, SQLModel.metadata))

    engine = create_async_engine(infra.new_database("content"))
    try:
        async with engine.connect() as connection:
            assert await connection.run_sync(differences) == []
    finally:
        await engine.dispose()
