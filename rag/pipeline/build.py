"""`build_pipeline`: the one place where a `PipelineConfig` becomes a library, a retriever, a generator and a
`QAPipeline`. The CLI, the service and the evaluation toolkit all call it, so what an evaluation measures is what
the chat page answers with."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from rag.answer.extractive import Similarity
from rag.answer.generate import ExtractiveGenerator, Generator
from rag.errors import ConfigError
from rag.index.store import IndexStore
from rag.pipeline.config import PipelineConfig
from rag.pipeline.library import Library
from rag.pipeline.qa import QAPipeline
from rag.retrieve.retrievers import HybridRetriever, Retriever, make_retriever


def open_library(
    config: PipelineConfig,
    index_dir: Path | None = None,
    *,
    create: bool = True,
    background_vectors: bool = False,
    offload: bool = False,
    store: str | None = None,
    read_store: str | None = None,
) -> Library:
    """The library in `index_dir` opened with the configuration's embedder and BM25 constants (vectors embedded
    by a background thread with `background_vectors`, tokenising and embedding in helper processes with `offload`:
    the service); its documents in `store` (a postgresql:// URI, `read_store` a replica; None: `Library`'s
    defaults, `$VANKIEN_STORE` or the local catalog)."""
    return Library(
        index_dir,
        create=create,
        embedder=config.embedder,
        lexical_params=config.bm25,
        background_vectors=background_vectors,
        offload=offload,
        store=store,
        read_store=read_store,
    )


def build_retriever(config: PipelineConfig, store: IndexStore) -> Retriever:
    """The configured retriever over `store` (hybrid falls back to lexical when the index has no vectors)."""
    if config.mode != "hybrid":
        return make_retriever(config.mode, store, rerank=config.rerank)
    return HybridRetriever(
        store, rerank=config.rerank, lexical_weight=config.lexical_weight, fusion=config.fusion, rrf_k=config.rrf_k
    )


def build_generator(config: PipelineConfig, semantic: Similarity | None = None) -> Generator:
    """The configured generator: extractive, or an OpenAI-compatible LLM (with the extractive fallback unless
    `llm_fallback` is off). `semantic` lets the extractive one weigh meaning (`ExtractiveGenerator`).

    Raises:
        ConfigError: generator "llm" without `llm_url` and `llm_model`.
        MissingDependency: the LLM packages are not installed.
    """
    if config.generator != "llm":
        return ExtractiveGenerator(semantic)
    if not config.llm_url or not config.llm_model:
        raise ConfigError(
            "generator 'llm' needs llm_url and llm_model",
            path=f"<cấu hình {config.name}>",
            field="generator",
            user_reason="bộ sinh 'llm' cần khai báo llm_url và llm_model.",
        )
    from rag.answer.llm import FallbackGenerator, make_llm_generator

    llm = make_llm_generator(config.llm_url, config.llm_model, config.llm_api_key, timeout=config.llm_timeout)
    return FallbackGenerator(llm, ExtractiveGenerator(semantic)) if config.llm_fallback else llm


def build_pipeline(config: PipelineConfig, library: Library) -> QAPipeline:
    """The question-answering pipeline `config` describes, over `library`."""
    return QAPipeline(
        library,
        retriever=build_retriever(config, library.store),
        generator=build_generator(config, library.store.text_similarity),
        k=config.k,
    )


def describe(pipeline: QAPipeline) -> dict[str, Any]:
    """The components of a pipeline and their parameters, as plain data (to compare two pipelines, and to log
    what a service answers with)."""
    return {
        "retriever": _component(pipeline.retriever, skip=("store",)),
        "embedder": pipeline.library.store.manifest()["embedder"],
        "generator": _generator(pipeline.generator),
        "k": pipeline.k,
        "abstention": type(pipeline.abstention).__name__,
    }


def _component(obj: object, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    data: dict[str, Any] = {"type": type(obj).__name__}
    if dataclasses.is_dataclass(obj):
        for f in dataclasses.fields(obj):
            if f.name not in skip:
                data[f.name] = getattr(obj, f.name)
    return data


def _generator(generator: Generator) -> dict[str, Any]:
    data: dict[str, Any] = {"type": type(generator).__name__, "name": generator.name}
    for part in ("primary", "fallback"):
        if hasattr(generator, part):
            data[part] = _generator(getattr(generator, part))
    chat = getattr(generator, "chat_model", None)
    if chat is not None:
        data["model"] = getattr(chat, "model_name", None)
        data["url"] = getattr(chat, "openai_api_base", None)
        data["timeout"] = getattr(chat, "request_timeout", None)
    return data
