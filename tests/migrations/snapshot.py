"""A schema's shape as plain data (tables, columns, constraints, indexes), to compare two schemas.

Read from pg_catalog with the schema's name taken out, so the same tables under two test
prefixes give the same snapshot. Alembic's own version table is left out.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

_COLUMNS = text("""
    SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
           pg_get_expr(d.adbin, d.adrelid)
    FROM pg_attribute a
    JOIN pg_class c ON c.oid = a.attrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE n.nspname = :schema AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
    ORDER BY c.relname, a.attnum""")
_CONSTRAINTS = text("""
    SELECT c.relname, k.conname, pg_get_constraintdef(k.oid)
    FROM pg_constraint k
    JOIN pg_class c ON c.oid = k.conrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = :schema ORDER BY 1, 2""")
_INDEXES = text("SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = :schema ORDER BY 1, 2")


async def snapshot(conn: AsyncConnection, schema: str) -> dict[str, dict]:
    tables: dict[str, dict] = {}

    def table(name: str) -> dict:
        return tables.setdefault(name, {"columns": [], "constraints": {}, "indexes": {}})

    for name, column, type_, not_null, default in await conn.execute(_COLUMNS, {"schema": schema}):
        default = _strip(default, schema)
        table(name)["columns"].append(
            f"{column} {type_}"
            + (" NOT NULL" if not_null else "")
            + (f" DEFAULT {default}" if default is not None else "")
        )
    for name, constraint, definition in await conn.execute(_CONSTRAINTS, {"schema": schema}):
        table(name)["constraints"][constraint] = _strip(definition, schema)
    for name, index, definition in await conn.execute(_INDEXES, {"schema": schema}):
        table(name)["indexes"][index] = _strip(definition, schema)
    tables.pop("alembic_version", None)
    return tables


def _strip(sql: str | None, schema: str) -> str | None:
    return None if sql is None else sql.replace(f'"{schema}".', "").replace(f"{schema}.", "")
