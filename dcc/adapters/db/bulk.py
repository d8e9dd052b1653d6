"""Bulk inserts of many plain rows in the session's transaction: PostgreSQL's COPY, SQLite's executemany on
the driver's cursor. Both skip SQLAlchemy's per-row parameter processing, which dominates past ~100,000 rows
(a referential of 40,000 codes writes ~1.4 million search rows). Rows are tuples in `columns` order, of
plain values (str, int, bool, None): no type conversion is done here."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.orm import Session


def bulk_insert(session: Session, table: Table, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """Insert `rows` into `table` in the session's current transaction; returns how many were written."""
    conn = session.connection()
    names = [table.c[c].name for c in columns]  # KeyError on a column the table does not have
    raw = conn.connection.driver_connection
    count = 0
    if conn.dialect.name == "postgresql":
        sql = f"COPY {table.name} ({', '.join(names)}) FROM STDIN"
        with raw.cursor() as cur, cur.copy(sql) as copy:  # type: ignore[union-attr]
            for row in rows:
                copy.write_row(row)
                count += 1
        return count

    def counted() -> Iterable[Sequence[Any]]:
        nonlocal count
        for row in rows:
            count += 1
            yield row

    sql = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})"
    cur = raw.cursor()  # type: ignore[union-attr]
    try:
        cur.executemany(sql, counted())
    finally:
        cur.close()
    return count
