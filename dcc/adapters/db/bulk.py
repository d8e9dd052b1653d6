"""Bulk inserts of many plain rows in the session's transaction: PostgreSQL's COPY (text format, written in
blocks), SQLite's executemany on the driver's cursor. Both skip SQLAlchemy's per-row parameter processing,
which dominates past ~100,000 rows (a referential of 40,000 codes writes ~1.4 million search rows). Rows are
tuples in `columns` order, of str, int or None: no other type conversion is done here."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import FromClause, Table
from sqlalchemy.orm import Session

_BLOCK = 1 << 20  # bytes of COPY text sent at a time
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_value(value: Any) -> str:
    """One value in COPY's text format (NULL as \\N, backslash, tab and line ends escaped)."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):  # COPY reads t/f, not Python's True/False
        return "t" if value else "f"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return value.translate(_ESCAPES)
    raise TypeError(f"bulk_insert: unsupported value type {type(value).__name__}")


def bulk_insert(session: Session, table: FromClause, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """Insert `rows` into `table` (a model's `__table__`) in the session's current transaction; returns how many
    were written."""
    if not isinstance(table, Table):
        raise TypeError("bulk_insert: a table is expected")
    conn = session.connection()
    names = ", ".join(table.c[c].name for c in columns)  # KeyError on a column the table does not have
    raw: Any = conn.connection.driver_connection
    count = 0

    def counted() -> Iterator[Sequence[Any]]:
        nonlocal count
        for row in rows:
            count += 1
            yield row

    if conn.dialect.name == "postgresql":
        with raw.cursor() as cur, cur.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
            block: list[str] = []
            size = 0
            for row in counted():
                line = "\t".join([copy_value(v) for v in row]) + "\n"
                block.append(line)
                size += len(line)
                if size >= _BLOCK:
                    copy.write("".join(block))
                    block, size = [], 0
            if block:
                copy.write("".join(block))
        return count
    cur = raw.cursor()
    try:
        cur.executemany(f"INSERT INTO {table.name} ({names}) VALUES ({', '.join('?' * len(columns))})", counted())
    finally:
        cur.close()
    return count
