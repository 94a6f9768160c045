"""Bulk-load helpers: rebuilding a table's indexes and foreign keys once after COPY instead of row by row.

Dropping and re-creating happens inside the load's transaction, so a failed load leaves the
table, its indexes and its constraints exactly as they were. The table is locked for writes
meanwhile, which is why this is for seeding and benchmarks, not for a live service.
"""
from __future__ import annotations

from contextlib import contextmanager

SECONDARY_INDEXES = """
SELECT i.indexname, i.indexdef FROM pg_indexes i
WHERE i.schemaname = current_schema() AND i.tablename = %s
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)
"""
# The table's own foreign keys (those checked when it gets rows), not the ones pointing at it.
FOREIGN_KEYS = """
SELECT c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint c
WHERE c.conrelid = to_regclass(%s) AND c.contype = 'f'
ORDER BY c.conname
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


@contextmanager
def foreign_keys_checked_after(conn, table: str):
    """Drop ``table``'s foreign keys, run the block, then add them back (validated).

    A foreign key checks each inserted row with a trigger and a lookup; added back, it is
    checked with one join over the whole table, which for a bulk load is many times cheaper."""
    constraints = conn.execute(FOREIGN_KEYS, (table,)).fetchall()
    for name, _ in constraints:
        conn.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"')
    yield
    for name, definition in constraints:
        conn.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}')
