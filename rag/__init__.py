"""Văn Kiện's library: question answering with paragraph-exact citations over Vietnamese Party documents.

This module is the public API: `service/`, `eval/` and the command line import only from here. Names are
loaded on first use, so `import rag` stays light (no numpy, no index code until something is asked for).

    from rag import PipelineConfig, build_pipeline, open_library

    config = PipelineConfig()                       # or load_config("eval/configs/default.toml")
    with open_library(config, Path("index")) as library:
        qa = build_pipeline(config, library)
        print(qa.ask("Nghị quyết 57 đặt mục tiêu gì đến năm 2030?").text)

Layers (a module imports only from layers below it; tests/test_layers.py checks it)::

    foundation   rag.types, rag.errors, rag.config, rag.records, rag.progress
    text         rag.text        normalisation, document header, structure, paragraphs
    ingest       rag.ingest      parsers (use text's normalisers), isolated parsing, worker wire format
    index        rag.index       catalog, lexical, vectors, embedders, store
    retrieve     rag.retrieve    lexical, dense, hybrid, fusion, rerank
    answer       rag.answer      question analysis, extractive and LLM generators, citation check, abstention
    pipeline     rag.pipeline    Library, QAPipeline, PipelineConfig, build_pipeline; rag.integrations
    apps         service, eval   the HTTP service and the evaluation toolkit (this module only)
    entry        vankien         the `vankien` command line (also `python -m rag`)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rag.answer.mcq import choose_option
    from rag.config import ENV_INDEX, ENV_STORE, default_index_dir, default_store
    from rag.errors import (
        ConfigError,
        EmbedderMismatch,
        IndexMismatch,
        InputFileError,
        InvalidRequest,
        MissingDependency,
        NotFound,
        ParseError,
        StoreError,
        UnsupportedFormat,
        VanKienError,
    )
    from rag.index.embedders import DEFAULT_EMBEDDER, NO_EMBEDDER
    from rag.index.memory import release_free_memory
    from rag.index.pg_catalog import pg_connect
    from rag.index.store import SharedLock, validate_filters
    from rag.ingest import supported_extensions
    from rag.ingest.lifetime import die_with_parent, yield_cpu
    from rag.pipeline import (
        ABSTAIN_TEXT,
        DEFAULT_ANSWER_K,
        ENV_LLM_API_KEY,
        VALID_KEYS,
        IngestReport,
        Library,
        PipelineConfig,
        QAPipeline,
        StreamEvent,
        build_pipeline,
        build_retriever,
        collect_files,
        config_from_mapping,
        describe,
        load_config,
        open_library,
    )
    from rag.pipeline.distributed import ingest_with_ray
    from rag.progress import NoProgress, Progress, TerminalProgress, track
    from rag.records import (
        answer_to_dict,
        citation_to_dict,
        document_to_dict,
        hit_to_dict,
        hits_to_dicts,
        paragraph_to_dict,
    )
    from rag.retrieve.query import MAX_QUERY_CHARS, check_query
    from rag.retrieve.retrievers import Retriever
    from rag.text.normalize import fold, match_form
    from rag.types import (
        CLASSIFICATIONS,
        DEFAULT_CLASSIFICATION,
        DOC_TYPES,
        Answer,
        Citation,
        DocumentInfo,
        Filters,
        Hit,
        Paragraph,
        Principal,
        SourceDoc,
        classification_rank,
    )

#: Public name -> the module that defines it.
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(["choose_option"], "rag.answer.mcq"),
    **dict.fromkeys(["pg_connect"], "rag.index.pg_catalog"),
    **dict.fromkeys(["ingest_with_ray"], "rag.pipeline.distributed"),
    **dict.fromkeys(["ENV_INDEX", "ENV_STORE", "default_index_dir", "default_store"], "rag.config"),
    **dict.fromkeys(
        [
            "ConfigError",
            "EmbedderMismatch",
            "IndexMismatch",
            "InputFileError",
            "InvalidRequest",
            "MissingDependency",
            "NotFound",
            "ParseError",
            "StoreError",
            "UnsupportedFormat",
            "VALID_KEYS",
            "VanKienError",
        ],
        "rag.errors",
    ),
    **dict.fromkeys(["DEFAULT_EMBEDDER", "NO_EMBEDDER"], "rag.index.embedders"),
    **dict.fromkeys(["SharedLock", "validate_filters"], "rag.index.store"),
    **dict.fromkeys(["supported_extensions"], "rag.ingest"),
    **dict.fromkeys(["release_free_memory"], "rag.index.memory"),
    **dict.fromkeys(["die_with_parent", "yield_cpu"], "rag.ingest.lifetime"),
    **dict.fromkeys(
        [
            "ABSTAIN_TEXT",
            "DEFAULT_ANSWER_K",
            "ENV_LLM_API_KEY",
            "VALID_KEYS",
            "IngestReport",
            "Library",
            "PipelineConfig",
            "QAPipeline",
            "Retriever",
            "StreamEvent",
            "build_pipeline",
            "build_retriever",
            "build_retriever",
            "collect_files",
            "config_from_mapping",
            "describe",
            "load_config",
            "open_library",
        ],
        "rag.pipeline",
    ),
    **dict.fromkeys(["NoProgress", "Progress", "TerminalProgress", "track"], "rag.progress"),
    **dict.fromkeys(
        ["answer_to_dict", "citation_to_dict", "document_to_dict", "hit_to_dict", "hits_to_dicts", "paragraph_to_dict"],
        "rag.records",
    ),
    **dict.fromkeys(["MAX_QUERY_CHARS", "check_query"], "rag.retrieve.query"),
    **dict.fromkeys(["Retriever"], "rag.retrieve.retrievers"),
    **dict.fromkeys(["fold", "match_form"], "rag.text.normalize"),
    **dict.fromkeys(
        [
            "CLASSIFICATIONS",
            "DEFAULT_CLASSIFICATION",
            "DOC_TYPES",
            "Answer",
            "Citation",
            "DocumentInfo",
            "Filters",
            "Hit",
            "Paragraph",
            "Principal",
            "SourceDoc",
            "classification_rank",
        ],
        "rag.types",
    ),
}

__all__ = [
    "ABSTAIN_TEXT",
    "CLASSIFICATIONS",
    "DEFAULT_ANSWER_K",
    "DEFAULT_CLASSIFICATION",
    "DEFAULT_EMBEDDER",
    "DOC_TYPES",
    "ENV_INDEX",
    "ENV_LLM_API_KEY",
    "ENV_STORE",
    "MAX_QUERY_CHARS",
    "NO_EMBEDDER",
    "VALID_KEYS",
    "Answer",
    "Citation",
    "ConfigError",
    "DocumentInfo",
    "EmbedderMismatch",
    "Filters",
    "Hit",
    "IndexMismatch",
    "IngestReport",
    "InputFileError",
    "InvalidRequest",
    "Library",
    "MissingDependency",
    "NoProgress",
    "NotFound",
    "Paragraph",
    "ParseError",
    "PipelineConfig",
    "Principal",
    "Progress",
    "QAPipeline",
    "Retriever",
    "SharedLock",
    "SourceDoc",
    "StoreError",
    "StreamEvent",
    "TerminalProgress",
    "UnsupportedFormat",
    "VanKienError",
    "answer_to_dict",
    "build_pipeline",
    "build_retriever",
    "check_query",
    "choose_option",
    "citation_to_dict",
    "classification_rank",
    "collect_files",
    "config_from_mapping",
    "default_index_dir",
    "default_store",
    "describe",
    "die_with_parent",
    "document_to_dict",
    "fold",
    "hit_to_dict",
    "hits_to_dicts",
    "ingest_with_ray",
    "load_config",
    "match_form",
    "open_library",
    "paragraph_to_dict",
    "pg_connect",
    "release_free_memory",
    "supported_extensions",
    "track",
    "validate_filters",
    "yield_cpu",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'rag' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
