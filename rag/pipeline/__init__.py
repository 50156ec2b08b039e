"""The pipeline layer: a `Library` (an index directory: ingest and catalog access), a `QAPipeline` (questions in,
verified answers out), their configuration and the one function that builds them (`build_pipeline`)."""

from __future__ import annotations

from rag.pipeline.build import build_generator, build_pipeline, build_retriever, describe, open_library
from rag.pipeline.config import ENV_LLM_API_KEY, VALID_KEYS, PipelineConfig, config_from_mapping, load_config
from rag.pipeline.library import FOLDER_SKIP, IngestReport, Library, build_document, collect_files
from rag.pipeline.qa import ABSTAIN_TEXT, DEFAULT_ANSWER_K, Prepared, QAPipeline, StreamEvent, answerable_hits

__all__ = [
    "ABSTAIN_TEXT",
    "DEFAULT_ANSWER_K",
    "ENV_LLM_API_KEY",
    "FOLDER_SKIP",
    "VALID_KEYS",
    "IngestReport",
    "Library",
    "PipelineConfig",
    "Prepared",
    "QAPipeline",
    "StreamEvent",
    "answerable_hits",
    "build_document",
    "build_generator",
    "build_pipeline",
    "build_retriever",
    "collect_files",
    "config_from_mapping",
    "describe",
    "load_config",
    "open_library",
]
