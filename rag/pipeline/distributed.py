"""Ingestion on a Ray cluster (issue 17): `vankien ingest PATH --store postgresql://... --ray [ADDRESS]`.

The single-machine ingest's own per-batch functions, as a Ray Data pipeline that streams work units through two
stages:

1. **commit** (CPU tasks, one per work unit: a file, or up to `UNIT_RECORDS` records of a .jsonl): parse (OCR
   included), analyse and commit to the PostgreSQL store with `Library.ingest(..., commit_only=True)`, exactly as
   `vankien ingest` and the service's ingest child do, idempotent by (source, sha256): a re-run after a failure
   commits only what is missing or changed;
2. **embed** (an actor pool, each actor holding the embedding model once; a GPU each when the cluster has GPUs):
   the committed documents' paragraphs that have no stored vector yet, embedded with the text `IndexStore` embeds
   (the lexical context, then the paragraph) and stored for the API replicas, which then read vectors instead of
   computing them (`rag.index.pg_catalog`).

Work units stream: embedding starts while later files are still being parsed. Ray and its data library are an
optional install (`pip install 'vankien[ray]'`), imported only here, on use.

A local cluster (no address) is started on 127.0.0.1 only, without its dashboard; an address joins an existing
cluster (`ray start --head` on the head node, workers joining it; docs/scale.md), whose nodes must have this
package installed and reach the database.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rag.errors import InvalidRequest, MissingDependency
from rag.index.pg_catalog import PgCatalog, is_postgres
from rag.index.store import resolve_embedder
from rag.pipeline.library import IngestReport, Library, collect_files
from rag.progress import NoProgress, Progress
from rag.types import CLASSIFICATIONS, DEFAULT_CLASSIFICATION, IngestResult

logger = logging.getLogger(__name__)

#: Records of a .jsonl committed by one task (a unit of work, of progress, and of what a failed task redoes).
UNIT_RECORDS = 200
#: Paragraphs embedded per call to the model inside an embedding actor.
EMBED_BATCH = 256
#: Documents handed to an embedding actor at a time.
EMBED_DOCS = 16
_RESULT_FIELDS = ("path", "status", "reason", "doc_id", "paragraphs")


@dataclass(frozen=True, slots=True)
class WorkUnit:
    """A file, or the records `start..stop-1` of a .jsonl."""

    path: str
    start: int = 0
    stop: int | None = None


def plan_units(
    paths: Sequence[Path], exclude: Sequence[str] = (), unit_records: int = UNIT_RECORDS
) -> tuple[list[WorkUnit], list[IngestResult]]:
    """The work units of an ingest (folders expanded as `Library.ingest` expands them) and the paths that do not
    exist."""
    units: list[WorkUnit] = []
    missing: list[IngestResult] = []
    for item in collect_files(paths, exclude):
        if isinstance(item, IngestResult):
            missing.append(item)
            continue
        if item.suffix.lower() == ".jsonl":
            with item.open("rb") as fh:
                records = sum(1 for line in fh if line.strip())
            if records > unit_records:
                units += [
                    WorkUnit(str(item), s, min(s + unit_records, records)) for s in range(0, records, unit_records)
                ]
                continue
        units.append(WorkUnit(str(item)))
    return units, missing


# -- the two stages (also callable in one process, which the tests do) ------------------------------------------

_libraries: dict[str, Library] = {}
_catalogs: dict[str, PgCatalog] = {}


def commit_unit(
    store: str, unit: WorkUnit, classification: str, ingested_by: str = "cli", force: bool = False
) -> list[IngestResult]:
    """Parse, analyse and commit one work unit to the store (`Library.ingest` with `commit_only`): stage 1."""
    library = _libraries.get(store)
    if library is None:
        # A commit-only library never loads search indexes: its folder is never written.
        folder = Path(tempfile.gettempdir()) / f"vankien-ray-{os.getpid()}"
        library = _libraries[store] = Library(folder, store=store)
    records = (unit.start, unit.stop) if unit.stop is not None else None
    report = library.ingest(
        [Path(unit.path)], classification, ingested_by=ingested_by, commit_only=True, records=records, force=force
    )
    return report.results


def embed_documents(store: str, embedder: Any, doc_ids: Sequence[str]) -> int:
    """Embed and store the vectors the documents' paragraphs lack: stage 2. Returns how many were embedded."""
    catalog = _catalogs.get(store)
    if catalog is None:
        catalog = _catalogs[store] = PgCatalog(store)
    rows = catalog.paragraphs_without_vectors(doc_ids)
    for i in range(0, len(rows), EMBED_BATCH):
        chunk = rows[i : i + EMBED_BATCH]
        vectors = np.asarray(embedder.embed_documents([f"{c}\n{t}" for _, _, c, t in chunk]), dtype=np.float32)
        catalog.store_vectors([r[0] for r in chunk], [r[1] for r in chunk], vectors, embedder.name, embedder.dim)
    return len(rows)


def _commit_batch(
    batch: dict[str, Any], store: str, classification: str, ingested_by: str, force: bool
) -> dict[str, list[Any]]:
    """Stage 1 as a Ray Data batch function: work units in, one row per ingest result out (with the unit's number;
    a unit with no result gives one row of status "" so the driver still counts it)."""
    out: dict[str, list[Any]] = {f: [] for f in ("unit", *_RESULT_FIELDS)}
    for number, path, start, stop in zip(batch["unit"], batch["path"], batch["start"], batch["stop"], strict=True):
        unit = WorkUnit(str(path), int(start), None if int(stop) < 0 else int(stop))
        results = commit_unit(store, unit, classification, ingested_by, force)
        for result in results or [IngestResult(str(path), "", "")]:
            out["unit"].append(int(number))
            for name in _RESULT_FIELDS:
                value = getattr(result, name)
                out[name].append("" if value is None else value)
    return out


class _Embed:
    """Stage 2 as a Ray Data actor: the model is loaded once per actor; ingest results pass through."""

    def __init__(self, store: str, spec: str) -> None:
        from rag.index.embedders import make_embedder

        self.store = store
        self.embedder = make_embedder(spec)

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        doc_ids = [
            str(d) for d, s in zip(batch["doc_id"], batch["status"], strict=True) if s in ("ok", "replaced") and d
        ]
        embed_documents(self.store, self.embedder, doc_ids)
        return batch


def _spread() -> dict[str, Any]:
    return {"scheduling_strategy": "SPREAD"}


def _ray() -> Any:
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise MissingDependency(
            f"ray is not installed: {exc}",
            "Chưa cài Ray để nạp phân tán; hãy cài: pip install 'vankien[ray]' (hoặc bỏ --ray để nạp trên máy này).",
        ) from exc
    return ray


def start_ray(address: str | None = None, num_cpus: int | None = None) -> Any:
    """Join the cluster at `address`, or start a local one bound to 127.0.0.1 only (no dashboard)."""
    if not address:  # read when Ray is imported: the local nodes then bind 127.0.0.1, not an outside address
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    ray = _ray()
    if ray.is_initialized():
        return ray
    if address:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    else:
        ray.init(
            address="local",  # a cluster of this process's own, never one that happens to run on this machine
            num_cpus=num_cpus or os.cpu_count() or 1,
            include_dashboard=False,
            _node_ip_address="127.0.0.1",
            log_to_driver=False,
        )
    return ray


def ingest_with_ray(
    paths: Sequence[Path],
    store: str,
    classification: str = DEFAULT_CLASSIFICATION,
    *,
    address: str | None = None,
    embedder: str | None = None,
    exclude: Sequence[str] = (),
    ingested_by: str = "cli",
    force: bool = False,
    progress: Progress | None = None,
    unit_records: int = UNIT_RECORDS,
    embed_actors: int | None = None,
) -> IngestReport:
    """Ingest files and folders into the PostgreSQL store on a Ray cluster (the module docstring).

    Args:
        store: the database (a postgresql:// URI): every node commits there.
        address: a running cluster ("ray://host:10001" or "host:6379"); None starts a local one.
        embedder: the embedder spec for an empty store (None: the one the store records, else the default).
        embed_actors: embedding actors (None: one per GPU when the cluster has GPUs, else half its CPUs, at least 1).

    Raises:
        InvalidRequest: `store` is not PostgreSQL, or an unknown classification.
        MissingDependency: Ray is not installed.
    """
    if not is_postgres(store):
        raise InvalidRequest(
            "--ray needs a PostgreSQL store",
            "Nạp phân tán (--ray) cần kho văn bản PostgreSQL dùng chung: hãy thêm --store postgresql://... "
            "(các máy trong cụm không ghi được vào danh mục cục bộ của máy này).",
        )
    if classification not in CLASSIFICATIONS:
        raise InvalidRequest(
            f"unknown classification {classification!r}",
            f"Mức phân loại '{classification}' không hợp lệ; chọn một trong: {', '.join(CLASSIFICATIONS)}.",
        )
    with PgCatalog(store) as catalog:  # migrated once, before the workers; the embedder recorded for the replicas
        spec, model = resolve_embedder(catalog, embedder)
    units, missing = plan_units(paths, exclude, unit_records)
    report = IngestReport(results=list(missing))
    bar = progress or NoProgress()
    bar.start(len(units), "Nạp phân tán (Ray)")
    if not units:
        bar.finish()
        return report
    ray = start_ray(address)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # ours counts work units
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    actors = embed_actors or (gpus if gpus else max(1, int(resources.get("CPU", 2)) // 2))
    items = [
        {"unit": i, "path": u.path, "start": u.start, "stop": -1 if u.stop is None else u.stop}
        for i, u in enumerate(units)
    ]
    data = ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
        _commit_batch,
        fn_kwargs={"store": store, "classification": classification, "ingested_by": ingested_by, "force": force},
        batch_size=1,
        num_cpus=1,
        # Work units spread over the nodes. Given as a function, which also keeps Ray from fusing this stage into
        # the embedding actors: parsing then runs on every free CPU, not only inside the actors.
        ray_remote_args_fn=_spread,
    )
    if model is not None:
        data = data.map_batches(
            _Embed,
            fn_constructor_args=(store, spec),
            batch_size=EMBED_DOCS,
            compute=ray.data.ActorPoolStrategy(size=actors),
            num_cpus=1,
            num_gpus=1 if gpus else 0,
        )
    seen: set[int] = set()
    for row in data.iter_rows():
        if int(row["unit"]) not in seen:
            seen.add(int(row["unit"]))
            bar.advance(1)
        if not row["status"]:
            continue
        report.results.append(
            IngestResult(
                str(row["path"]),
                str(row["status"]),
                str(row["reason"]),
                str(row["doc_id"]) or None,
                int(row["paragraphs"]),
            )
        )
    bar.finish()
    return report
