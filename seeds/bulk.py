"""Bulk-load helpers: rebuilding a table's indexes once after COPY instead of row by row.

Dropping and re-creating happens inside the load's transaction, so a failed load leaves the
table and its indexes exactly as they were. The table is locked for writes meanwhile,
which is why this is for seeding and benchmarks, not for a live service.
"""
from __future__ import annotations

from contextlib import contextmanager

SECONDARY_INDEXES = """
SELECT i.indexname, i.indexdef FROM pg_indexes i
WHERE i.schemaname = current_schema() AND i.tablename = %s
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)
"""


@contextmanager
def indexes_rebuilt_after(conn, table: str):
    """Drop ``table``'s non-constraint indexes, run the block, then build them again."""
    indexes = conn.execute(SECONDARY_INDEXES, (table,)).fetchall()
    conn.execute("SET LOCAL maintenance_work_mem = '512MB'")
    for name, _ in indexes:
        conn.execute(f'DROP INDEX "{name}"')
    yield
    for _, definition in indexes:
        conn.execute(definition)
