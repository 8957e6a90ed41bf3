"""The merged fleet store: every host's rows in one DuckDB file, with a Parquet export.

The per-host raw files (``OUT/<host>/results.jsonl``) stay the truth; merging reads them
again and upserts them keyed by (run_id, host, trial_key), so a re-merge is idempotent and a
host fetched twice is not counted twice. Where a trial has two rows (a skipped trial retried
by a later resume, a disturbed trial re-measured) the later one is the trial's row in
``results``, as everywhere else, and the earlier ones go to the table ``earlier_rows`` (same
columns, no key; a host's earlier rows replaced whole on each merge): evidence, never
counted as trials. Rows of an older schema are
upgraded on the way in (shared.schema); a host whose file this collector cannot read is
left out with its reason and the others are merged. A row's host is the host folder it was
fetched into (shared.resultsdir), never the host the row names: rows naming another host are
stored under their folder's host and reported (``MergeResult.mismatched``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from shared.errors import NoSpace, UserError, no_space
from shared.resultsdir import ROW_IDENTITY, ResultsFolder, device_folders, latest_and_earlier
from shared.schema import COLUMNS, COLUMN_NAMES, SchemaError

TABLE = "results"
EARLIER_TABLE = "earlier_rows"  # rows superseded by a later row of the same trial
SQL_TYPES = {int: "BIGINT", float: "DOUBLE", str: "VARCHAR", bool: "BOOLEAN"}


@dataclass
class MergeResult:
    store: Path
    parquet: Path
    rows_total: int = 0
    rows_added: int = 0  # new keys (a replaced row is not counted)
    earlier_rows: int = 0  # rows superseded by a later row of their trial, kept in EARLIER_TABLE
    hosts: int = 0
    refused: dict[str, str] = field(default_factory=dict)  # host folder -> why its rows were left out
    mismatched: dict[str, str] = field(default_factory=dict)  # host -> the other hosts its rows claimed
    notes: list[str] = field(default_factory=list)  # what the merge did besides merging

    def warnings(self) -> list[str]:
        """One line each: a host folder left out, or rows that named another host."""
        return (self.notes + [f"left out {folder}: {why}" for folder, why in self.refused.items()]
                + [f"rows fetched from {host!r} claim host {claims}; stored as {host!r}"
                   for host, claims in self.mismatched.items()])


def _ensure_table(con: duckdb.DuckDBPyConnection) -> None:
    columns = ", ".join(f'"{c.name}" {SQL_TYPES[c.type]}' for c in COLUMNS)
    keys = ", ".join(f'"{k}"' for k in ROW_IDENTITY)
    con.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} ({columns}, PRIMARY KEY ({keys}))")
    con.execute(f"CREATE TABLE IF NOT EXISTS {EARLIER_TABLE} ({columns})")
    for table in (TABLE, EARLIER_TABLE):
        # a store made by an older edgeprune lacks the columns added since: add them (null)
        have = {row[0] for row in con.execute(f"SELECT column_name FROM information_schema.columns "
                                              f"WHERE table_name = '{table}'").fetchall()}
        for column in COLUMNS:
            if column.name not in have:
                con.execute(f'ALTER TABLE {table} ADD COLUMN "{column.name}" {SQL_TYPES[column.type]}')


def _insert(con: duckdb.DuckDBPyConnection, table: str, rows: list[dict], verb: str = "INSERT") -> None:
    con.register("incoming", _frame(rows))
    casts = ", ".join(f'CAST("{c.name}" AS {SQL_TYPES[c.type]}) AS "{c.name}"' for c in COLUMNS)
    con.execute(f"{verb} INTO {table} BY NAME SELECT {casts} FROM incoming")
    con.unregister("incoming")


def _count(con: duckdb.DuckDBPyConnection) -> int:
    return con.execute(f"SELECT count(*) FROM {TABLE}").fetchall()[0][0]  # fetchall: the result is done


def _frame(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame.from_records(rows, columns=list(COLUMN_NAMES))
    return frame.astype(object).where(frame.notna(), None)  # null stays null, whatever the dtype


def merge(out_dir: Path) -> MergeResult:
    """Upsert every host folder's rows; write the Parquet export. A full disk is one NoSpace
    error: a new store is made as ``fleet.duckdb.part`` and renamed when whole (DuckDB leaves
    a file it could not finish unreadable), an existing one commits the upsert or not."""
    fleet = ResultsFolder(out_dir)
    result = MergeResult(fleet.path(ResultsFolder.STORE), fleet.path(ResultsFolder.PARQUET))
    _set_aside_if_unreadable(result)
    fresh = not result.store.exists()
    target = result.store.with_name(ResultsFolder.STORE + ".part") if fresh else result.store
    try:
        _merge(out_dir, result, target)
        if fresh:
            target.replace(result.store)
    except duckdb.Error as exc:  # DuckDB says ENOSPC in its own words, in several exception types
        if "No space left" in str(exc) or "Disk quota" in str(exc):
            raise NoSpace(result.store) from None
        raise
    except OSError as exc:
        raise no_space(exc, result.store) or exc from None
    finally:
        if fresh:
            for part in (target, target.with_name(target.name + ".wal")):
                part.unlink(missing_ok=True)
    return result


def _set_aside_if_unreadable(result: MergeResult) -> None:
    """A store an older collector left half written (a full disk) is renamed, not merged into:
    the host folders are the truth, so the new store has every row they hold."""
    if not result.store.exists():
        return
    try:
        duckdb.connect(str(result.store), read_only=True).close()
    except duckdb.IOException as exc:
        if "not a valid DuckDB database file" not in str(exc):
            raise
        aside = result.store.with_name(ResultsFolder.STORE + ".unreadable")
        result.store.replace(aside)
        result.notes.append(f"{ResultsFolder.STORE} was not a DuckDB file (half written?): renamed {aside.name}; "
                            f"made again from the host folders")


def _merge(out_dir: Path, result: MergeResult, store: Path) -> MergeResult:
    try:
        folders = device_folders(out_dir)
    except UserError:
        folders = []  # no rows yet (every host unreachable): an empty store still says so
    con = duckdb.connect(str(store))
    try:
        _ensure_table(con)
        for folder in folders:
            try:
                rows, claimed = folder.read_rows()
            except (SchemaError, ValueError) as exc:
                result.refused[folder.root.name] = f"not readable by this edgeprune: {exc}"
                continue
            if claimed:
                result.mismatched[str(folder.host)] = ", ".join(repr(name) for name in sorted(claimed))
            result.hosts += 1
            if not rows:
                continue
            before = _count(con)
            latest, earlier = latest_and_earlier(rows)
            _insert(con, TABLE, latest, "INSERT OR REPLACE")
            result.rows_added += _count(con) - before
            for host in sorted({str(row["host"]) for row in rows}):  # replaced whole: a re-merge adds none twice
                con.execute(f"DELETE FROM {EARLIER_TABLE} WHERE host = ?", [host])
            if earlier:
                _insert(con, EARLIER_TABLE, earlier)
            result.earlier_rows += len(earlier)
        result.rows_total = _count(con)
        parquet = str(result.parquet).replace("'", "''")  # a SQL string literal
        con.execute(f"COPY (SELECT * FROM {TABLE} ORDER BY host, run_id, started_at) "
                    f"TO '{parquet}' (FORMAT parquet)")
    finally:
        con.close()
    return result
