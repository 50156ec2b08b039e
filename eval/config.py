"""Run configurations as TOML files, so a sweep is a list of files.

Example (every key is optional; missing keys take the offline default)::

    name = "hybrid-hash"          # label in reports; defaults to the file name without ".toml"
    description = "BM25 + hash embedder, RRF"
    embedder = "hash"             # "none" (lexical only), "hash", "hash:<dim>", "st:<model folder or name>"
    fusion = "rrf"                # "rrf" or "convex"
    rrf_k = 60                    # RRF damping constant
    rerank = false                # true: second stage over the lexical list (sentence evidence)
    k = 10                        # results retrieved / paragraphs given to the generator
    generator = "extractive"      # "extractive" or "llm"
    llm_url = "http://127.0.0.1:8080/v1"
    llm_model = "qwen2.5-7b-instruct"

    [weights]                     # fusion weights per retriever
    lexical = 1.0
    dense = 1.0

    [lexical]                     # passed through to the lexical retriever as is
    k1 = 1.2
    b = 0.75
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any

from eval.errors import ConfigError
from rag.index.store import DEFAULT_EMBEDDER
from rag.retrieve.retrievers import LEXICAL_WEIGHT

FUSIONS = ("rrf", "convex")
GENERATORS = ("extractive", "llm")
RETRIEVERS = ("lexical", "dense")
_EMBEDDER_RE = re.compile(r"^(none|hash|hash(-v\d+)?:\d+|(st|sentence-transformers):\S.*)$")
# The library's own defaults, so that an empty configuration file evaluates exactly what users run.
_DEFAULT_WEIGHTS: Mapping[str, float] = MappingProxyType({"lexical": LEXICAL_WEIGHT, "dense": 1.0 - LEXICAL_WEIGHT})


@dataclass(frozen=True, slots=True)
class RunConfig:
    """One configuration of the system under evaluation. The defaults are the offline default setup.

    Attributes:
        name: label shown in reports and used to pair results in `compare`.
        description: free text.
        embedder: "none" (lexical retrieval only), "hash" or "hash:<dim>" (offline), "st:<model>".
        lexical: options passed through to the lexical retriever (a free-form table).
        fusion: how lexical and dense lists are combined: "rrf" or "convex".
        weights: fusion weight per retriever ("lexical", "dense").
        rrf_k: RRF damping constant.
        rerank: reorder the lexical candidates by sentence-level evidence, or keep BM25's order (the default).
        k: number of results retrieved (retrieval) or given to the generator (QA).
        generator: "extractive" (offline default) or "llm".
        llm_url: OpenAI-compatible server URL, for generator "llm".
        llm_model: model name on that server.
    """

    name: str = "default"
    description: str = ""
    embedder: str = DEFAULT_EMBEDDER
    lexical: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    fusion: str = "convex"
    weights: Mapping[str, float] = field(default_factory=lambda: _DEFAULT_WEIGHTS)
    rrf_k: int = 60
    rerank: bool = False
    k: int = 10
    generator: str = "extractive"
    llm_url: str | None = None
    llm_model: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy, recorded in every result."""
        data: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        data["lexical"] = dict(self.lexical)
        data["weights"] = dict(self.weights)
        return data


VALID_KEYS: tuple[str, ...] = tuple(f.name for f in fields(RunConfig))


def _bad(path: Path, key: str, reason: str, reason_vi: str) -> ConfigError:
    return ConfigError(reason, path=path, field=key, user_reason=reason_vi)


def _str(data: Mapping[str, Any], key: str, path: Path) -> None:
    if key in data and not isinstance(data[key], str):
        raise _bad(path, key, "expected a string", "giá trị phải là chuỗi.")


def _int(data: Mapping[str, Any], key: str, path: Path, minimum: int) -> None:
    value = data.get(key)
    if key in data and (not isinstance(value, int) or isinstance(value, bool) or value < minimum):
        raise _bad(path, key, f"expected an integer >= {minimum}", f"giá trị phải là số nguyên >= {minimum}.")


def _choice(data: Mapping[str, Any], key: str, path: Path, choices: tuple[str, ...]) -> None:
    if key in data and data[key] not in choices:
        raise _bad(
            path,
            key,
            f"{data[key]!r} is not one of {', '.join(choices)}",
            f"«{data[key]}» không hợp lệ; chọn một trong: {', '.join(choices)}.",
        )


def config_from_mapping(data: Mapping[str, Any], path: str | Path = "<config>", name: str | None = None) -> RunConfig:
    """Validate a parsed configuration table and build a `RunConfig`.

    Args:
        data: the TOML table.
        path: where it came from, for error messages.
        name: the default name when the table has none.

    Raises:
        ConfigError: unknown keys (the message lists the valid keys), wrong types or values.
    """
    path = Path(path)
    unknown = sorted(set(data) - set(VALID_KEYS))
    if unknown:
        raise ConfigError(
            f"unknown key(s) {', '.join(unknown)}; valid keys: {', '.join(VALID_KEYS)}",
            path=path,
            field=unknown[0],
            user_reason=f"khóa không hợp lệ: {', '.join(unknown)}. Các khóa hợp lệ: {', '.join(VALID_KEYS)}.",
        )
    for key in ("name", "description", "embedder", "fusion", "generator", "llm_url", "llm_model"):
        _str(data, key, path)
    _int(data, "rrf_k", path, 1)
    if "rerank" in data and not isinstance(data["rerank"], bool):
        raise _bad(path, "rerank", "expected true or false", "giá trị phải là true hoặc false.")
    _int(data, "k", path, 1)
    _choice(data, "fusion", path, FUSIONS)
    _choice(data, "generator", path, GENERATORS)
    if "embedder" in data and not _EMBEDDER_RE.match(data["embedder"].strip()):
        raise _bad(
            path,
            "embedder",
            f"{data['embedder']!r} is not one of: none, hash, hash:<dim>, st:<model>",
            f"«{data['embedder']}» không hợp lệ; dùng: none, hash, hash:<số chiều>, st:<mô hình>.",
        )
    lexical = data.get("lexical", {})
    if not isinstance(lexical, dict):
        raise _bad(path, "lexical", "expected a table", "phải là một bảng [lexical].")
    weights = data.get("weights", dict(_DEFAULT_WEIGHTS))
    if (
        not isinstance(weights, dict)
        or set(weights) - set(RETRIEVERS)
        or not all(isinstance(w, int | float) and not isinstance(w, bool) and w >= 0 for w in weights.values())
    ):
        raise _bad(
            path,
            "weights",
            f"expected a table of non-negative numbers with keys among {', '.join(RETRIEVERS)}",
            f"phải là bảng số không âm với khóa trong: {', '.join(RETRIEVERS)}.",
        )
    if data.get("generator") == "llm" and not (data.get("llm_url") and data.get("llm_model")):
        raise _bad(
            path, "llm_url", "generator 'llm' needs llm_url and llm_model", "bộ sinh 'llm' cần llm_url và llm_model."
        )
    values: dict[str, Any] = {k: v for k, v in data.items() if k not in ("lexical", "weights")}
    values.setdefault("name", name or "default")
    if "embedder" in values:
        values["embedder"] = values["embedder"].strip()
    return RunConfig(
        **values,
        lexical=MappingProxyType(dict(lexical)),
        weights=MappingProxyType({**_DEFAULT_WEIGHTS, **{k: float(v) for k, v in weights.items()}}),
    )


def load_config(path: str | Path) -> RunConfig:
    """Load a `RunConfig` from a TOML file; its name defaults to the file name without extension.

    Raises:
        ConfigError: the file is missing or not TOML (with the line), or its content is invalid.
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
    return config_from_mapping(data, path, name=path.stem)
