"""SQL over the lake without Spark: DuckDB over the job's Delta tables, read by delta-rs.

Runs one query over the tables `tickets` and `ticket_counts` (tickets_job.tables) under LAKE_URI,
a local folder or s3a://bucket/prefix, and prints the result as a table (or as JSON lines with
--json). Without SQL it prints the tickets created in the last hour by support team and priority.

    python -m tickets_query
    python -m tickets_query "SELECT type, count(*) FROM tickets GROUP BY type"

Each table is read at its latest version through delta-rs, as an Arrow dataset that DuckDB scans
with the query's filters pushed down: a filter on created_date reads only those days' folders.
Times are UTC.

Environment (also read from an optional `.env` in the working directory):
    LAKE_URI                  default data/lake: the folder or s3a:// prefix the job writes
    AWS_REGION, AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
    AWS_PROFILE, AWS_SHARED_CREDENTIALS_FILE  for a lake on S3: as for the job (tickets_job.storage)
    LOG_LEVEL                 default WARNING

Exits: 0 with the result printed, 2 when the SQL fails or the lake holds no table yet (one line on
stderr saying why).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tickets_job.storage import chain_credentials, is_s3, location, spark_path
from tickets_job.tables import COUNTS, TICKETS
from tickets_kafka import program
from tickets_kafka.settings import ConfigError, Env

log = logging.getLogger(__name__)

LAST_HOUR = """
SELECT support_team, priority, count(*) AS tickets
FROM tickets
WHERE created_date >= CAST(now() - INTERVAL 1 HOUR AS DATE)
  AND created_at >= now() - INTERVAL 1 HOUR
GROUP BY support_team, priority
ORDER BY support_team, priority
"""


class LakeQueryError(RuntimeError):
    """The query cannot run: no table yet, or DuckDB refused the SQL; the message says which."""


@dataclass(frozen=True)
class Lake:
    uri: str
    storage_options: dict[str, str]

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Lake:
        env = Env(environ)
        uri = location(env, "LAKE_URI", "data/lake", may_be_off=True)
        env.check()
        if uri is None:
            raise ConfigError("invalid configuration: LAKE_URI=off: there is no lake to query")
        if not is_s3(uri):
            return cls(spark_path(uri), {})
        found = {} if environ.get("AWS_ACCESS_KEY_ID") else chain_credentials()  # a profile, a file
        return cls(spark_path(uri), s3_options(environ) | found)

    def table(self, name: str) -> Any:
        """The table's latest version as an Arrow dataset (delta-rs)."""
        from deltalake import DeltaTable
        from deltalake.exceptions import TableNotFoundError

        where = f"{self.uri}/{name}"
        try:
            return DeltaTable(where, storage_options=self.storage_options or None).to_pyarrow_dataset()
        except TableNotFoundError:
            raise LakeQueryError(
                f"no Delta table at {where} yet: the job writes it at its first micro-batch that counts "
                "tickets (make run, or LAKE_URI pointing at the job's)"
            ) from None


def s3_options(environ: Mapping[str, str]) -> dict[str, str]:
    """delta-rs's options for S3 from the job's variables (it reads the credentials' own as well)."""
    options = {"AWS_REGION": environ.get("AWS_REGION") or "us-east-1"}
    if endpoint := environ.get("AWS_ENDPOINT_URL"):
        options |= {"AWS_ENDPOINT_URL": endpoint, "AWS_VIRTUAL_HOSTED_STYLE_REQUEST": "false"}
        if endpoint.startswith("http:"):
            options["AWS_ALLOW_HTTP"] = "true"
    return options


def run(lake: Lake, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The query's column names and rows, over the tables the SQL names."""
    import duckdb

    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    for name in (TICKETS, COUNTS):
        if name in sql:
            connection.register(name, lake.table(name))
    try:
        result = connection.execute(sql)
    except duckdb.Error as err:
        raise LakeQueryError(f"the query failed: {err}".replace("\n", " ")) from None
    return [column[0] for column in result.description], result.fetchall()


def render(columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> str:
    """An aligned text table, with the row count under it."""
    cells = [
        [str(column) for column in columns],
        *[["" if v is None else str(v) for v in row] for row in rows],
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in lines) + f"\n({len(rows)} rows)\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = program.parser("python -m tickets_query", __doc__)
    parser.add_argument(
        "sql", nargs="?", help="the query (default: tickets of the last hour by team and priority)"
    )
    parser.add_argument("--json", action="store_true", help="print each row as a JSON object, one per line")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    environ = program.read_environment()
    program.start_logging(environ.get("LOG_LEVEL", "WARNING").upper())
    try:
        columns, rows = run(Lake.from_env(environ), args.sql or LAST_HOUR)
    except (ConfigError, LakeQueryError) as err:
        log.error("%s", err)
        return 2
    if args.json:
        for row in rows:
            sys.stdout.write(json.dumps(dict(zip(columns, row, strict=True)), default=str) + "\n")
    else:
        sys.stdout.write(render(columns, rows))
    return 0
