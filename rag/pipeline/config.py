"""The pipeline's configuration: one TOML format for `vankien serve/ask/search --config`, the service settings and
`vankien eval --config`.

Example (every key is optional; a missing key takes the default, which is what `make run` serves)::

    name = "hybrid-hash"          # label in reports; defaults to the file name without ".toml"
    description = "BM25 + hash embedder, RRF"
    embedder = "hash"             # "none" (lexical only), "e5", "hash", "hash:<dim>", "st:<model folder>"; unset: the
                                  # index's own (a new index gets rag.index.embedders.DEFAULT_EMBEDDER)
    mode = "hybrid"               # "hybrid", "lexical" or "dense"
    fusion = "convex"             # "convex" (complete standardised scores), "minmax" (each list's top n) or "rrf"
    rrf_k = 60                    # RRF damping constant
    rerank = false                # true: second stage over the lexical list (sentence evidence)
    k = 8                         # paragraphs given to the generator (and to the MCQ chooser)
    generator = "extractive"      # "extractive" or "llm"
    llm_url = "http://127.0.0.1:8080/v1"
    llm_model = "qwen2.5-7b-instruct"
    llm_timeout = 60              # seconds per request
    llm_fallback = true           # answer extractively while the LLM server fails

    [weights]                     # fusion weights per retriever (normalised to sum 1); none given: the default
    lexical = 0.9                 # for the index's embedder (rag.retrieve.retrievers.default_lexical_weight:
    dense = 0.1                   # 0.4 for a real model, 0.9 for the hash embedder)

    [lexical]                     # BM25 constants of a new index (rag.index.lexical.BM25Params)
    k1 = 1.2
    b = 0.75

The LLM server's key never sits in a file: it comes from `--llm-key`, the service setting or the environment
variable `VANKIEN_LLM_API_KEY`.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any

from rag.errors import ConfigError
from rag.index.lexical import BM25Params
from rag.pipeline.qa import DEFAULT_ANSWER_K
from rag.retrieve.retrievers import RETRIEVERS

#: Environment variable holding the LLM server's API key.
ENV_LLM_API_KEY = "VANKIEN_LLM_API_KEY"
FUSIONS = ("convex", "minmax", "rrf")
GENERATORS = ("extractive", "llm")
MODES = tuple(sorted(RETRIEVERS))
WEIGHT_KEYS = ("lexical", "dense")
BM25_KEYS = tuple(f.name for f in fields(BM25Params))
_EMBEDDER_RE = re.compile(r"^(none|e5|e5-small-q4@\S+|hash|hash(-v\d+)?:\d+|(st|sentence-transformers):\S.*)$")


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    """How the question-answering pipeline is assembled. The defaults are the offline default setup.

    Attributes:
        name: label shown in reports and used to pair results in `compare`.
        description: free text.
        embedder: embedder spec ("none", "hash", "hash:<dim>", "st:<model>"); None: the index's own.
        mode: retriever: "hybrid" (lexical and dense fused; lexical alone when the index has no vectors),
            "lexical" or "dense".
        lexical: BM25 constants for a new index (`BM25Params` field names); empty: the defaults.
        fusion: how lexical and dense lists are combined: "convex" (`z_convex`), "minmax" or "rrf".
        weights: fusion weight per retriever ("lexical", "dense"); empty: the default for the index's embedder.
        rrf_k: RRF damping constant.
        rerank: reorder the lexical candidates by sentence-level evidence.
        k: paragraphs given to the generator (QA) or to the option chooser (MCQ).
        generator: "extractive" (offline default) or "llm".
        llm_url: OpenAI-compatible server URL, for generator "llm".
        llm_model: model name on that server.
        llm_api_key: the server's key (never read from a file; never shown in `to_dict`).
        llm_timeout: seconds to wait for the server per request.
        llm_fallback: answer with the extractive generator while the LLM server fails (False: count failures,
            as an evaluation of the LLM should).
    """

    name: str = "default"
    description: str = ""
    embedder: str | None = None
    mode: str = "hybrid"
    lexical: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    fusion: str = "convex"
    weights: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    rrf_k: int = 60
    rerank: bool = False
    k: int = DEFAULT_ANSWER_K
    generator: str = "extractive"
    llm_url: str | None = None
    llm_model: str | None = None
    llm_api_key: str | None = field(default=None, repr=False)
    llm_timeout: float = 60.0
    llm_fallback: bool = True

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy, recorded in every evaluation result (the API key is never included)."""
        data: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "llm_api_key"}
        data["lexical"] = dict(self.lexical)
        data["weights"] = dict(self.weights)
        return data

    @property
    def lexical_weight(self) -> float | None:
        """The lexical list's share of the fusion (the weights normalised to sum 1; one weight alone: the other
        is its complement); None when no weight is given (the retriever takes its embedder's default)."""
        if not self.weights:
            return None
        if "dense" not in self.weights:
            return min(1.0, max(0.0, float(self.weights["lexical"])))
        if "lexical" not in self.weights:
            return min(1.0, max(0.0, 1.0 - float(self.weights["dense"])))
        lexical = float(self.weights["lexical"])
        total = lexical + float(self.weights["dense"])
        return lexical / total if total else 1.0

    @property
    def bm25(self) -> BM25Params | None:
        """The `[lexical]` table as BM25 constants, or None when it is empty."""
        return BM25Params(**{k: float(v) for k, v in self.lexical.items()}) if self.lexical else None


#: Keys a configuration file may hold (the API key is not one of them).
VALID_KEYS: tuple[str, ...] = tuple(f.name for f in fields(PipelineConfig) if f.name != "llm_api_key")


def _bad(path: Path, key: str, reason: str, reason_vi: str) -> ConfigError:
    return ConfigError(reason, path=path, field=key, user_reason=reason_vi)


def _str(data: Mapping[str, Any], key: str, path: Path) -> None:
    if key in data and not isinstance(data[key], str):
        raise _bad(path, key, "expected a string", "giá trị phải là chuỗi.")


def _int(data: Mapping[str, Any], key: str, path: Path, minimum: int) -> None:
    value = data.get(key)
    if key in data and (not isinstance(value, int) or isinstance(value, bool) or value < minimum):
        raise _bad(path, key, f"expected an integer >= {minimum}", f"giá trị phải là số nguyên >= {minimum}.")


def _bool(data: Mapping[str, Any], key: str, path: Path) -> None:
    if key in data and not isinstance(data[key], bool):
        raise _bad(path, key, "expected true or false", "giá trị phải là true hoặc false.")


def _choice(data: Mapping[str, Any], key: str, path: Path, choices: tuple[str, ...]) -> None:
    if key in data and data[key] not in choices:
        raise _bad(
            path,
            key,
            f"{data[key]!r} is not one of {', '.join(choices)}",
            f"«{data[key]}» không hợp lệ; chọn một trong: {', '.join(choices)}.",
        )


def _number_table(data: Mapping[str, Any], key: str, path: Path, keys: tuple[str, ...]) -> dict[str, float]:
    table = data.get(key, {})
    if (
        not isinstance(table, dict)
        or set(table) - set(keys)
        or not all(isinstance(w, int | float) and not isinstance(w, bool) and w >= 0 for w in table.values())
    ):
        raise _bad(
            path,
            key,
            f"expected a table of non-negative numbers with keys among {', '.join(keys)}",
            f"phải là bảng [{key}] gồm số không âm với khóa trong: {', '.join(keys)}.",
        )
    return {k: float(v) for k, v in table.items()}


def config_from_mapping(
    data: Mapping[str, Any], path: str | Path = "<cấu hình>", name: str | None = None
) -> PipelineConfig:
    """Validate a configuration table (a parsed TOML file, maybe with flags merged in) and build the config.

    Args:
        data: the table; `llm_api_key` may be given here by code (flags, settings), never by a file.
        path: where it came from, for error messages.
        name: the default name when the table has none.

    Raises:
        ConfigError: unknown keys (the message lists the valid keys), wrong types or values.
    """
    path = Path(path)
    unknown = sorted(set(data) - set(VALID_KEYS) - {"llm_api_key"})
    if unknown:
        raise ConfigError(
            f"unknown key(s) {', '.join(unknown)}; valid keys: {', '.join(VALID_KEYS)}",
            path=path,
            field=unknown[0],
            user_reason=f"khóa không hợp lệ: {', '.join(unknown)}. Các khóa hợp lệ: {', '.join(VALID_KEYS)}.",
        )
    for key in ("name", "description", "embedder", "mode", "fusion", "generator", "llm_url", "llm_model"):
        _str(data, key, path)
    _int(data, "rrf_k", path, 1)
    _int(data, "k", path, 1)
    _bool(data, "rerank", path)
    _bool(data, "llm_fallback", path)
    timeout = data.get("llm_timeout", 1.0)
    if not isinstance(timeout, int | float) or isinstance(timeout, bool) or timeout <= 0:
        raise _bad(path, "llm_timeout", "expected a number of seconds > 0", "giá trị phải là số giây lớn hơn 0.")
    _choice(data, "mode", path, MODES)
    _choice(data, "fusion", path, FUSIONS)
    _choice(data, "generator", path, GENERATORS)
    if "embedder" in data and not _EMBEDDER_RE.match(data["embedder"].strip()):
        raise _bad(
            path,
            "embedder",
            f"{data['embedder']!r} is not one of: none, e5, hash, hash:<dim>, st:<model>",
            f"«{data['embedder']}» không hợp lệ; dùng: none, e5, hash, hash:<số chiều>, st:<mô hình>.",
        )
    lexical = _number_table(data, "lexical", path, BM25_KEYS)
    weights = _number_table(data, "weights", path, WEIGHT_KEYS)
    if data.get("generator") == "llm" and not data.get("llm_url"):
        raise _bad(
            path,
            "llm_url",
            "generator 'llm' needs llm_url",
            "bộ sinh 'llm' cần địa chỉ máy chủ mô hình (llm_url, --llm-url).",
        )
    if data.get("generator") == "llm" and not data.get("llm_model"):
        raise _bad(
            path,
            "llm_model",
            "generator 'llm' needs llm_model",
            "bộ sinh 'llm' cần tên mô hình trên máy chủ (llm_model, --llm-model).",
        )
    values: dict[str, Any] = {k: v for k, v in data.items() if k not in ("lexical", "weights")}
    values.setdefault("name", name or "default")
    if "embedder" in values:
        values["embedder"] = values["embedder"].strip()
    if "llm_timeout" in values:
        values["llm_timeout"] = float(values["llm_timeout"])
    return PipelineConfig(
        **values,
        lexical=MappingProxyType(lexical),
        weights=MappingProxyType(weights),
    )


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The table of a TOML configuration file, not yet validated.

    Raises:
        ConfigError: the file is missing, not UTF-8, or not TOML (with the line), or holds an API key.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"cannot read: {exc.strerror}", path=path, user_reason="không đọc được tệp cấu hình."
        ) from None
    try:
        data = tomllib.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise ConfigError("not UTF-8 text", path=path, user_reason="tệp không phải văn bản UTF-8.") from None
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        raise ConfigError(
            f"invalid TOML: {exc}",
            path=path,
            line=int(match.group(1)) if match else None,
            user_reason=f"cú pháp TOML không hợp lệ ({exc}).",
        ) from None
    if "llm_api_key" in data:
        raise _bad(
            path,
            "llm_api_key",
            f"API keys are not read from files; set {ENV_LLM_API_KEY}",
            f"không ghi khóa API vào tệp cấu hình; hãy đặt biến môi trường {ENV_LLM_API_KEY} hoặc dùng --llm-key.",
        )
    return data


def load_config(path: str | Path | None = None, **overrides: Any) -> PipelineConfig:
    """The configuration from a TOML file (or the defaults when `path` is None), with overrides applied.

    Overrides are keys of the file format (`llm_url="http://..."`, `k=5`) and `llm_api_key`; None values are
    ignored, so command-line flags that were not given can be passed as they are. Every value is validated the
    same way, wherever it came from. The API key, when not given, comes from `VANKIEN_LLM_API_KEY`. The name
    defaults to the file name without extension.

    Raises:
        ConfigError: the file is missing or not TOML (with the line), or a value is invalid.
    """
    data: dict[str, Any] = read_config_file(path) if path is not None else {}
    given = {k: v for k, v in overrides.items() if v is not None}
    merged = {**data, **given}
    if merged.get("llm_api_key") is None and os.environ.get(ENV_LLM_API_KEY):
        merged["llm_api_key"] = os.environ[ENV_LLM_API_KEY]
    where: str | Path = path if path is not None else "<cấu hình>"
    return config_from_mapping(merged, where, name=Path(path).stem if path is not None else None)
