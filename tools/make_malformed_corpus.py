"""Generate the malformed-file corpus: broken, hostile and odd files of every format the service reads.

Everything is built here, from a seed; nothing is downloaded. Valid base documents are written with fpdf2,
pypdf and python-docx, then truncated, bit-flipped, encrypted, inflated or twisted; the rest is written byte by
byte (hand-made PDF object graphs, zip containers, HTML, text in odd encodings). The output is deterministic
for a seed: encryption's random bytes come from the seeded generator too, zip timestamps are fixed.

Each file's name says its category; `.manifest.json` (hidden, so `vankien ingest` skips it) lists every file
with its category, what must happen to it ("ok", "rejected" or "any": either, but never a crash) and a note.

Usage:
    python -m tools.make_malformed_corpus OUT_DIR [--seed 57] [--sample]
        --sample   a CI-sized subset covering every category (about 40 small files)
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import random
import re
import secrets
import sys
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
FIXED_DATE = datetime(2024, 12, 22, 8, 0, 0, tzinfo=UTC)
ZIP_DATE = (2024, 12, 22, 8, 0, 0)
KB, MB, GB = 1024, 1024 * 1024, 1024 * 1024 * 1024

# A short resolution, written for this corpus (not an official text).
LINES = [
    "BAN CHẤP HÀNH TRUNG ƯƠNG",
    "Số 99-NQ/TW",
    "Hà Nội, ngày 22 tháng 12 năm 2024",
    "NGHỊ QUYẾT",
    "về thử nghiệm độ bền của hệ thống hỏi đáp văn kiện",
    "I. TÌNH HÌNH",
    "1. Tài liệu đến từ nhiều nguồn: bản quét, tệp hỏng, tệp có mật khẩu, tệp mã hóa cũ.",
    "2. Hệ thống phải chạy nhiều tháng trên mạng nội bộ mà không dừng.",
    "II. NHIỆM VỤ",
    "1. Mỗi tệp được đọc trong một tiến trình riêng, có giới hạn thời gian và bộ nhớ.",
    "2. Tệp không đọc được bị từ chối kèm lý do rõ ràng bằng tiếng Việt.",
    "III. TỔ CHỨC THỰC HIỆN",
    "Các cấp ủy, tổ chức đảng quán triệt và thực hiện nghiêm Nghị quyết này.",
]
TEXT = "\n".join(LINES) + "\n"


@dataclass(frozen=True, slots=True)
class Case:
    """One file of the corpus.

    Attributes:
        name: file name (its extension chooses the parser).
        category: the group it belongs to (the first part of the name).
        build: returns the bytes.
        expect: "ok", "rejected" or "any" (either; what matters is that it ends, with a reason when rejected).
        note: what is wrong with it.
        sample: part of the CI-sized sample.
    """

    name: str
    category: str
    build: Callable[[], bytes]
    expect: str = "any"
    note: str = ""
    sample: bool = False


# ---------------------------------------------------------------------------------------------- helpers


def cut(build: Callable[[], bytes], fraction: float) -> bytes:
    """The first `fraction` of the bytes `build` returns (at least one byte)."""
    data = build()
    return data[: max(1, int(len(data) * fraction))]


def drop_last_byte(build: Callable[[], bytes]) -> bytes:
    return build()[:-1]


def rng_bytes(seed: str, n: int) -> bytes:
    """`n` bytes from a generator seeded with `seed`."""
    return random.Random(seed).randbytes(n)


@contextlib.contextmanager
def seeded_randomness(seed: str) -> Iterator[None]:
    """Make the encryption libraries' random bytes (salts, IVs, file ids) come from a seeded generator."""
    rng = random.Random(seed)

    def fake_urandom(n: int) -> bytes:
        return rng.randbytes(n)

    import fpdf.encryption  # binds `urandom` at import: patched there too

    def fake_token_bytes(nbytes: int | None = 32) -> bytes:
        return fake_urandom(32 if nbytes is None else nbytes)

    saved = (os.urandom, secrets.token_bytes, fpdf.encryption.urandom)  # type: ignore[attr-defined]
    os.urandom = fake_urandom
    secrets.token_bytes = fake_token_bytes
    fpdf.encryption.urandom = fake_urandom  # type: ignore[attr-defined]
    try:
        yield
    finally:
        os.urandom, secrets.token_bytes, fpdf.encryption.urandom = saved  # type: ignore[attr-defined]


def deflate_bomb(total: int, fill: bytes = b"\0", *, chunk: int = 1 << 24) -> bytes:
    """A valid zlib stream that inflates to `total` bytes of `fill`, built without compressing them all.

    With a full flush after each chunk the compressor forgets its window, so every chunk compresses to the
    same bytes: one is compressed and repeated.
    """
    block = fill * (chunk // len(fill))
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    piece = comp.compress(block) + comp.flush(zlib.Z_FULL_FLUSH)
    tail = comp.flush()
    n = max(1, total // len(block))
    adler = 1
    for _ in range(n):
        adler = zlib.adler32(block, adler)
    return b"\x78\xda" + piece * n + tail + adler.to_bytes(4, "big")


_BOMB_CACHE: dict[tuple[int, bytes], bytes] = {}


def cached_bomb(total: int, fill: bytes = b"\0") -> bytes:
    key = (total, fill)
    if key not in _BOMB_CACHE:
        _BOMB_CACHE[key] = deflate_bomb(total, fill)
    return _BOMB_CACHE[key]


def bit_flip(data: bytes, rng: random.Random, flips: int, *, skip_head: int = 16) -> bytes:
    out = bytearray(data)
    for _ in range(flips):
        i = rng.randrange(min(skip_head, len(out) - 1), len(out))
        out[i] ^= 1 << rng.randrange(8)
    return bytes(out)


def overwrite_block(data: bytes, rng: random.Random, size: int) -> bytes:
    out = bytearray(data)
    start = rng.randrange(16, max(17, len(out) - size))
    out[start : start + size] = rng.randbytes(size)[: len(out) - start]
    return bytes(out)


def normalise_zip(data: bytes) -> bytes:
    """Rewrite a zip with fixed timestamps and entry order (python-docx stamps the current time)."""
    src = zipfile.ZipFile(io.BytesIO(data))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            new = zipfile.ZipInfo(info.filename, date_time=ZIP_DATE)
            new.compress_type = zipfile.ZIP_DEFLATED
            out.writestr(new, src.read(info.filename))
    return buf.getvalue()


def make_zip(entries: list[tuple[str, bytes]], *, compress: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compress) as out:
        for name, blob in entries:
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.compress_type = compress
            out.writestr(info, blob)
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------- valid bases


def fpdf_document(*, compress: bool = True, encrypt: dict[str, object] | None = None, pages: int = 3) -> bytes:
    from fpdf import FPDF

    doc = FPDF()
    doc.set_creation_date(FIXED_DATE)
    doc.set_compression(compress)
    unicode_font = FONT.exists()
    if unicode_font:
        doc.add_font("dejavu", fname=str(FONT))
    if encrypt:
        doc.set_encryption(**encrypt)  # type: ignore[arg-type]
    from rag.text.normalize import fold

    for n in range(pages):
        doc.add_page()
        if unicode_font:
            doc.set_font("dejavu", size=11)
        else:  # without the font: the core font and the text without diacritics
            doc.set_font("helvetica", size=11)
        for line in LINES[n * 5 : n * 5 + 5] or LINES[:5]:
            doc.cell(0, 7, line if unicode_font else fold(line), new_x="LMARGIN", new_y="NEXT")
    return bytes(doc.output())


_BASE_CACHE: dict[str, bytes] = {}


def base_pdf(kind: str) -> bytes:
    """Valid PDFs to damage: "fpdf" (compressed), "plain" (uncompressed streams), "pypdf" (rewritten by pypdf)."""
    if kind not in _BASE_CACHE:
        if kind == "fpdf":
            _BASE_CACHE[kind] = fpdf_document()
        elif kind == "plain":
            _BASE_CACHE[kind] = fpdf_document(compress=False)
        elif kind == "pypdf":
            from pypdf import PdfReader, PdfWriter

            writer = PdfWriter(clone_from=PdfReader(io.BytesIO(base_pdf("fpdf"))))
            writer.add_metadata({"/Title": "Nghị quyết thử nghiệm", "/Producer": "make_malformed_corpus"})
            writer._ID = None
            with seeded_randomness("pypdf-base"):
                buf = io.BytesIO()
                writer.write(buf)
            _BASE_CACHE[kind] = buf.getvalue()
        else:
            raise ValueError(kind)
    return _BASE_CACHE[kind]


def pypdf_encrypted(algorithm: str, user: str, owner: str = "chu-so-huu") -> bytes:
    from pypdf import PdfReader, PdfWriter

    with seeded_randomness(f"pypdf-{algorithm}-{user}"):
        writer = PdfWriter(clone_from=PdfReader(io.BytesIO(base_pdf("fpdf"))))
        writer.encrypt(user_password=user, owner_password=owner, algorithm=algorithm)
        buf = io.BytesIO()
        writer.write(buf)
    return buf.getvalue()


def fpdf_encrypted(method: str, user: str | None) -> bytes:
    from fpdf.enums import EncryptionMethod

    with seeded_randomness(f"fpdf-{method}-{user}"):
        return fpdf_document(
            encrypt={
                "owner_password": "chu-so-huu",
                "user_password": user,
                "encryption_method": getattr(EncryptionMethod, method),
            }
        )


def base_docx() -> bytes:
    if "docx" not in _BASE_CACHE:
        import docx

        document = docx.Document()
        document.core_properties.created = FIXED_DATE.replace(tzinfo=None)
        document.core_properties.modified = FIXED_DATE.replace(tzinfo=None)
        document.core_properties.title = "Nghị quyết thử nghiệm"
        for i, line in enumerate(LINES):
            if line.startswith(("I.", "II.", "III.")):
                document.add_heading(line, level=1)
            elif i < 5:
                document.add_paragraph(line).runs[0].bold = True
            else:
                document.add_paragraph(line)
        table = document.add_table(rows=2, cols=2)
        table.cell(0, 0).text, table.cell(0, 1).text = "Chỉ tiêu", "Năm 2030"
        table.cell(1, 0).text, table.cell(1, 1).text = "Kinh tế số", "30% GDP"
        buf = io.BytesIO()
        document.save(buf)
        _BASE_CACHE["docx"] = normalise_zip(buf.getvalue())
    return _BASE_CACHE["docx"]


def docx_parts() -> dict[str, bytes]:
    archive = zipfile.ZipFile(io.BytesIO(base_docx()))
    return {name: archive.read(name) for name in archive.namelist()}


def docx_with(replace: dict[str, bytes | None], *, extra: list[tuple[str, bytes]] | None = None) -> bytes:
    """The base DOCX with parts replaced (None: removed) and extra entries appended."""
    parts = docx_parts()
    entries = [(name, replace.get(name, blob)) for name, blob in parts.items()]
    kept = [(name, blob) for name, blob in entries if blob is not None]
    kept += [(name, blob) for name, blob in replace.items() if name not in parts and blob is not None]
    return make_zip([(n, b) for n, b in kept if b is not None] + (extra or []))


W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


def document_xml(body: str, *, prolog: str = "") -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n{prolog}'
        f'<w:document xmlns:w="{W_NS}"><w:body>{body}</w:body></w:document>'
    ).encode()


def para(text: str) -> str:
    return f'<w:p><w:r><w:t xml:space="preserve">{text}</w:t></w:r></w:p>'


# ---------------------------------------------------------------------------------------------- raw PDFs


def raw_pdf(
    objects: list[bytes],
    *,
    root: int = 1,
    trailer: bytes = b"",
    xref: bool = True,
    header: bytes = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n",
) -> bytes:
    """A PDF from object bodies (object i+1 is objects[i]), with a correct xref table unless told otherwise."""
    out = bytearray(header)
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    start = len(out)
    if xref:
        out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
        for off in offsets:
            out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root %d 0 R %s>>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        root,
        trailer,
        start,
    )
    return bytes(out)


def stream(data: bytes, extra: bytes = b"") -> bytes:
    return b"<< /Length %d %s>>\nstream\n" % (len(data), extra) + data + b"\nendstream"


FONT_OBJ = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
CONTENT = b"BT /F1 12 Tf 72 720 Td (Nghi quyet so 99-NQ/TW ve thu nghiem do ben) Tj ET"


def page_pdf(
    content: bytes = CONTENT,
    *,
    content_obj: bytes | None = None,
    font_obj: bytes = FONT_OBJ,
    resources: bytes = b"<< /Font << /F1 4 0 R >> >>",
    page_extra: bytes = b"",
    extra_objects: list[bytes] | None = None,
    trailer: bytes = b"",
) -> bytes:
    """One page (objects 1-5: catalog, pages, page, font, content); `extra_objects` become objects 6, 7, ..."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources "
        + resources
        + b" /Contents 5 0 R "
        + page_extra
        + b">>",
        font_obj,
        content_obj if content_obj is not None else stream(content),
        *(extra_objects or []),
    ]
    return raw_pdf(objects, trailer=trailer)


def flate_stream(raw_zlib: bytes, extra: bytes = b"") -> bytes:
    return stream(raw_zlib, b"/Filter /FlateDecode " + extra)


# ---------------------------------------------------------------------------------------------- categories


def pdf_cases() -> Iterator[Case]:
    # Truncated: valid PDFs cut at many places.
    fractions = [0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99]
    for kind in ("fpdf", "plain", "pypdf"):
        for i, frac in enumerate(fractions):
            yield Case(
                f"pdf-truncated-{kind}-{int(frac * 100):02d}pct.pdf",
                "pdf-truncated",
                partial(cut, partial(base_pdf, kind), frac),
                note=f"{kind} PDF cut at {frac:.0%}",
                sample=(kind == "fpdf" and i in (2, 8)),
            )
        yield Case(
            f"pdf-truncated-{kind}-minus1.pdf",
            "pdf-truncated",
            partial(drop_last_byte, partial(base_pdf, kind)),
            note="last byte missing",
        )
    # Bit flips and overwritten blocks.
    for kind in ("fpdf", "plain", "pypdf"):
        for i in range(15):
            flips = [1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377, 610, 987][i]

            def build(k: str = kind, i: int = i, flips: int = flips) -> bytes:
                rng = random.Random(f"flip-{k}-{i}")
                if i % 5 == 4:
                    return overwrite_block(base_pdf(k), rng, 64 * (i + 1))
                return bit_flip(base_pdf(k), rng, flips)

            yield Case(
                f"pdf-bitflip-{kind}-{i:02d}.pdf",
                "pdf-bitflip",
                build,
                note=f"{flips} bits flipped" if i % 5 != 4 else "a block overwritten with random bytes",
                sample=(kind == "plain" and i in (0, 6)),
            )
    yield from pdf_encrypted_cases()
    yield from pdf_structure_cases()


def pdf_encrypted_cases() -> Iterator[Case]:
    cat = "pdf-encrypted"
    for method in ("RC4", "AES_128", "AES_256"):
        yield Case(
            f"pdf-encrypted-fpdf-{method.lower()}-user-password.pdf",
            cat,
            partial(fpdf_encrypted, method, "matkhau"),
            "rejected",
            f"fpdf2 {method}, user password set",
            sample=method == "AES_128",
        )
        yield Case(
            f"pdf-encrypted-fpdf-{method.lower()}-empty-user.pdf",
            cat,
            partial(fpdf_encrypted, method, None),
            "ok",
            f"fpdf2 {method}, owner password only (opens with the empty password)",
            sample=method == "RC4",
        )
    for algorithm in ("RC4-40", "RC4-128", "AES-128", "AES-256-R5", "AES-256"):
        for user in ("", "matkhau"):
            yield Case(
                f"pdf-encrypted-pypdf-{algorithm.lower()}-{'user-password' if user else 'empty-user'}.pdf",
                cat,
                partial(pypdf_encrypted, algorithm, user),
                "rejected" if user else "ok",
                f"pypdf {algorithm}, {'user password set' if user else 'empty user password'}",
            )
    yield Case(
        "pdf-encrypted-bad-version.pdf",
        cat,
        lambda: page_pdf(
            extra_objects=[b"<< /Filter /Standard /V 99 /R 99 /O (x) /U (y) /P -4 >>"],
            trailer=b"/Encrypt 6 0 R /ID [<00><00>] ",
        ),
        "rejected",
        "an encryption dictionary of an unknown version",
    )
    yield Case(
        "pdf-encrypted-pubsec.pdf",
        cat,
        lambda: raw_pdf(
            [
                b"<< /Type /Catalog /Pages 2 0 R >>",
                b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>",
                stream(b"garbage-ciphertext"),
                b"<< /Filter /Adobe.PubSec /SubFilter /adbe.pkcs7.s5 /V 4 /R 4 /Recipients [<3082>] >>",
            ],
            trailer=b"/Encrypt 5 0 R /ID [<0102><0102>] ",
        ),
        "rejected",
        "public-key (certificate) encryption",
    )
    yield Case(
        "pdf-encrypted-truncated.pdf",
        cat,
        lambda: fpdf_encrypted("AES_128", None)[:-400],
        note="encrypted and cut short",
    )
    yield Case(
        "pdf-encrypted-short-keys.pdf",
        cat,
        lambda: raw_pdf(
            [
                b"<< /Type /Catalog /Pages 2 0 R >>",
                b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>",
                stream(b"xx"),
                b"<< /Filter /Standard /V 2 /R 3 /Length 128 /O <00> /U <00> /P -4 >>",
            ],
            trailer=b"/Encrypt 5 0 R /ID [<0102><0102>] ",
        ),
        "rejected",
        "/O and /U entries of the wrong length",
    )


def pdf_structure_cases() -> Iterator[Case]:
    depth = 100_000
    yield Case(
        "pdf-nested-arrays-100k.pdf",
        "pdf-nested",
        lambda: page_pdf(page_extra=b"/Foo " + b"[" * depth + b"]" * depth + b" "),
        note="an array nested 100,000 deep in the page dictionary",
        sample=True,
    )
    yield Case(
        "pdf-nested-dicts-100k.pdf",
        "pdf-nested",
        lambda: page_pdf(page_extra=b"/Foo " + b"<< /A " * depth + b">> " * depth),
        note="a dictionary nested 100,000 deep",
    )
    yield Case(
        "pdf-nested-arrays-unclosed.pdf",
        "pdf-nested",
        lambda: page_pdf(page_extra=b"/Foo " + b"[" * depth),
        note="100,000 arrays opened, never closed",
    )
    yield Case(
        "pdf-nested-content-arrays.pdf",
        "pdf-nested",
        lambda: page_pdf(b"BT /F1 12 Tf 72 720 Td " + b"[" * depth + b"]" * depth + b" TJ ET"),
        note="an operand nested 100,000 deep in the content stream",
    )
    yield Case(
        "pdf-nested-trailer.pdf",
        "pdf-nested",
        lambda: page_pdf(trailer=b"/Info " + b"<< /A " * depth + b">> " * depth),
        note="the trailer nested 100,000 deep",
    )
    yield Case(
        "pdf-nested-indirect-chain.pdf",
        "pdf-nested",
        lambda: raw_pdf(
            [
                b"<< /Type /Catalog /Pages 2 0 R >>",
                b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                b"<< /Type /Page /Parent 2 0 R /MediaBox 6 0 R /Resources << /Font << /F1 4 0 R >> >> "
                b"/Contents 5 0 R >>",
                FONT_OBJ,
                stream(CONTENT),
                *[b"%d 0 R" % (i + 1) for i in range(7, 50_006)],
                b"[0 0 595 842]",
            ]
        ),
        note="a chain of 50,000 indirect references",
    )
    # Huge objects.
    yield Case(
        "pdf-huge-content-text.pdf",
        "pdf-huge",
        lambda: page_pdf(
            content_obj=flate_stream(
                zlib.compress(
                    b"BT /F1 12 Tf 72 720 Td " + b"(Nghi quyet so 99 ve thu nghiem) Tj T* " * 1_500_000 + b"ET", 9
                )
            )
        ),
        note="a content stream drawing 1.5 million text runs (about 50 MB of text)",
    )
    yield Case(
        "pdf-huge-string.pdf",
        "pdf-huge",
        lambda: page_pdf(extra_objects=[b"<< /Title (" + b"A" * (12 * MB) + b") >>"], trailer=b"/Info 6 0 R "),
        note="a 12 MB title string",
    )
    yield Case(
        "pdf-huge-array.pdf",
        "pdf-huge",
        lambda: page_pdf(page_extra=b"/Foo [" + b"0 " * 2_000_000 + b"] "),
        note="an array of 2 million numbers",
        sample=False,
    )
    yield Case(
        "pdf-huge-declared-length.pdf",
        "pdf-huge",
        lambda: page_pdf().replace(b"<< /Length %d >>" % len(CONTENT), b"<< /Length 1099511627776 >>"),
        note="a stream declaring a length of 1 TB",
        sample=True,
    )
    yield Case(
        "pdf-huge-many-objects.pdf",
        "pdf-huge",
        lambda: raw_pdf(
            [
                b"<< /Type /Catalog /Pages 2 0 R >>",
                b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> "
                b"/Contents 5 0 R >>",
                FONT_OBJ,
                stream(CONTENT),
                *[b"(obj %d)" % i for i in range(200_000)],
            ]
        ),
        expect="ok",
        note="200,000 objects, one page",
    )

    def many_pages(n: int) -> bytes:
        kids = b" ".join(b"%d 0 R" % (i + 5) for i in range(n))
        objects = [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % n,
            FONT_OBJ,
            stream(CONTENT),
        ]
        objects += [
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R >> >> "
            b"/Contents 4 0 R >>"
        ] * n
        return raw_pdf(objects)

    yield Case(
        "pdf-huge-20000-pages.pdf",
        "pdf-huge",
        lambda: many_pages(20_000),
        note="20,000 pages sharing one content stream (beyond the 5,000-page limit)",
    )
    # Decompression bombs.
    yield Case(
        "pdf-bomb-content-1gb.pdf",
        "pdf-bomb",
        lambda: page_pdf(content_obj=flate_stream(cached_bomb(1 * GB, b" "))),
        note="a content stream inflating to 1 GB",
        sample=True,
    )
    yield Case(
        "pdf-bomb-double-flate-4gb.pdf",
        "pdf-bomb",
        lambda: page_pdf(
            content_obj=stream(zlib.compress(cached_bomb(4 * GB), 9), b"/Filter [/FlateDecode /FlateDecode] ")
        ),
        note="a content stream deflated twice, inflating to 4 GB (a few kilobytes on disk)",
    )
    yield Case(
        "pdf-bomb-object-stream.pdf",
        "pdf-bomb",
        lambda: objstm_bomb(),
        note="an object stream (/Type /ObjStm) inflating to 1 GB, listed in a cross-reference stream",
    )
    yield Case(
        "pdf-bomb-xref-stream.pdf",
        "pdf-bomb",
        lambda: xref_stream_bomb(),
        note="the cross-reference stream itself inflating to 1 GB",
    )
    yield Case(
        "pdf-bomb-image.pdf",
        "pdf-bomb",
        lambda: image_bomb(),
        note="a page whose only content is an image of 100,000 x 100,000 pixels inflating to 1 GB",
    )
    yield Case(
        "pdf-bomb-font-file.pdf",
        "pdf-bomb",
        lambda: page_pdf(
            font_obj=b"<< /Type /Font /Subtype /TrueType /BaseFont /Bomb /FirstChar 32 /LastChar 126 "
            b"/FontDescriptor 6 0 R >>",
            extra_objects=[
                b"<< /Type /FontDescriptor /FontName /Bomb /Flags 32 /FontFile2 7 0 R >>",
                flate_stream(cached_bomb(1 * GB)),
            ],
        ),
        note="an embedded font file inflating to 1 GB",
    )
    yield Case(
        "pdf-bomb-tounicode.pdf",
        "pdf-bomb",
        lambda: page_pdf(
            font_obj=b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /ToUnicode 6 0 R >>",
            extra_objects=[flate_stream(cached_bomb(1 * GB, b"<00> <0041>\n"))],
        ),
        note="a ToUnicode map inflating to 1 GB",
    )
    yield Case(
        "pdf-bomb-filter-chain.pdf",
        "pdf-bomb",
        lambda: page_pdf(
            content_obj=stream(
                zlib.compress(cached_bomb(1 * GB, b" "), 9).hex().encode() + b">",
                b"/Filter [/ASCIIHexDecode /FlateDecode /FlateDecode] ",
            )
        ),
        note="hex, then deflate twice, inflating to 1 GB",
    )
    # Cross-reference tables that loop or lie.
    yield from xref_cases()
    yield from page_tree_cases()
    yield from pdf_misc_cases()


def objstm_bomb() -> bytes:
    body = cached_bomb(1 * GB, b" ")
    header = b"%PDF-1.7\n"
    objs = [
        b"1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n",
        b"2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n",
        b"3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources 6 0 R >>\nendobj\n",
        b"4 0 obj\n" + stream(CONTENT) + b"\nendobj\n",
        b"5 0 obj\n" + flate_stream(body, b"/Type /ObjStm /N 1 /First 4 ") + b"\nendobj\n",
    ]
    out = bytearray(header)
    offsets = []
    for o in objs:
        offsets.append(len(out))
        out += o
    xref_off = len(out)
    rows = [b"\x00\x00\x00\xff\xff"]
    rows += [b"\x01" + off.to_bytes(4, "big") for off in offsets]
    rows += [b"\x02\x00\x00\x00\x05"]  # object 6 is the first in object stream 5
    rows += [b"\x01" + xref_off.to_bytes(4, "big")]
    data = b"".join(r.ljust(5, b"\x00") for r in rows)
    out += b"7 0 obj\n" + stream(data, b"/Type /XRef /Size 8 /W [1 4 0] /Root 1 0 R ") + b"\nendobj\n"
    out += b"startxref\n%d\n%%%%EOF\n" % xref_off
    return bytes(out)


def xref_stream_bomb() -> bytes:
    out = bytearray(b"%PDF-1.7\n")
    out += b"1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
    out += b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n"
    off = len(out)
    out += b"3 0 obj\n" + flate_stream(cached_bomb(1 * GB), b"/Type /XRef /Size 4 /W [1 4 2] /Root 1 0 R ")
    out += b"\nendobj\nstartxref\n%d\n%%%%EOF\n" % off
    return bytes(out)


def image_bomb() -> bytes:
    return raw_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /XObject << /Im1 5 0 R >> >> "
            b"/Contents 4 0 R >>",
            stream(b"q 595 0 0 842 0 0 cm /Im1 Do Q"),
            flate_stream(
                cached_bomb(1 * GB),
                b"/Type /XObject /Subtype /Image /Width 100000 /Height 100000 /ColorSpace /DeviceGray "
                b"/BitsPerComponent 8 ",
            ),
        ]
    )


def xref_cases() -> Iterator[Case]:
    cat = "pdf-xref"
    base = page_pdf()
    start = int(base.rsplit(b"startxref\n", 1)[1].split(b"\n")[0])

    def prev_loop(target: int) -> bytes:
        return base.replace(b"/Root 1 0 R", b"/Root 1 0 R /Prev %d" % target)

    yield Case(
        "pdf-xref-prev-self.pdf", cat, lambda: prev_loop(start), note="/Prev pointing at its own table", sample=True
    )

    def two_tables() -> bytes:
        first = base
        second_off = len(first)
        trailer2 = b"xref\n0 1\n0000000000 65535 f \ntrailer\n<< /Size 6 /Root 1 0 R /Prev %d >>\n" % second_off
        data = first.replace(b"/Root 1 0 R", b"/Root 1 0 R /Prev %d" % second_off) + trailer2
        return data + b"startxref\n%d\n%%%%EOF\n" % second_off

    yield Case("pdf-xref-prev-cycle.pdf", cat, two_tables, note="two tables whose /Prev point at each other")
    yield Case(
        "pdf-xref-startxref-past-end.pdf",
        cat,
        lambda: base.replace(b"startxref\n%d" % start, b"startxref\n999999999"),
        note="startxref beyond the end of the file",
    )
    yield Case(
        "pdf-xref-startxref-negative.pdf",
        cat,
        lambda: base.replace(b"startxref\n%d" % start, b"startxref\n-42"),
        note="a negative startxref",
    )
    yield Case(
        "pdf-xref-huge-subsection.pdf",
        cat,
        lambda: base.replace(b"xref\n0 6\n", b"xref\n0 2000000000\n").replace(b"/Size 6", b"/Size 2000000000"),
        note="a table claiming two billion entries",
    )
    yield Case(
        "pdf-xref-wrong-offsets.pdf",
        cat,
        lambda: re.sub(rb"(?m)^(\d{10}) 00000 n $", lambda m: b"%010d 00000 n " % (int(m.group(1)) + 7), base),
        note="every offset of the table off by seven bytes",
    )
    yield Case(
        "pdf-xref-missing.pdf",
        cat,
        lambda: base.split(b"xref\n")[0] + b"%%EOF\n",
        expect="any",
        note="no table and no trailer (the reader must rebuild it)",
    )
    yield Case(
        "pdf-xref-root-missing.pdf",
        cat,
        lambda: base.replace(b"/Root 1 0 R", b"/Root 99 0 R"),
        "any",
        "the trailer's /Root names an object that does not exist (the reader may find the catalog by scanning)",
    )
    yield Case(
        "pdf-xref-root-self.pdf",
        cat,
        lambda: base.replace(b"<< /Type /Catalog /Pages 2 0 R >>", b"1 0 R"),
        note="the catalog is a reference to itself",
    )
    yield Case(
        "pdf-xref-stream-huge-index.pdf",
        cat,
        lambda: (
            b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
            b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n"
            b"3 0 obj\n"
            + stream(
                b"\x01\x00\x00\x00\x09\x00" * 4,
                b"/Type /XRef /Size 2147483647 /W [1 4 1] /Index [0 2147483647] /Root 1 0 R ",
            )
            + b"\nendobj\nstartxref\n%d\n%%%%EOF\n" % 100
        ),
        note="a cross-reference stream indexing two billion objects",
    )
    yield Case(
        "pdf-xref-stream-huge-widths.pdf",
        cat,
        lambda: (
            b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
            b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n"
            b"3 0 obj\n"
            + stream(b"\x00" * 64, b"/Type /XRef /Size 4 /W [1000000000 1000000000 1000000000] /Root 1 0 R ")
            + b"\nendobj\nstartxref\n%d\n%%%%EOF\n" % 100
        ),
        note="field widths of a billion bytes",
    )


def page_tree_cases() -> Iterator[Case]:
    cat = "pdf-pagetree"
    yield Case(
        "pdf-pagetree-kids-self.pdf",
        cat,
        lambda: raw_pdf(
            [
                b"<< /Type /Catalog /Pages 2 0 R >>",
                b"<< /Type /Pages /Kids [2 0 R 3 0 R] /Count 2 >>",
                b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> "
                b"/Contents 5 0 R >>",
                FONT_OBJ,
                stream(CONTENT),
            ]
        ),
        note="/Pages listing itself among its kids",
        sample=True,
    )
    yield Case(
        "pdf-pagetree-cycle.pdf",
        cat,
        lambda: raw_pdf(
            [
                b"<< /Type /Catalog /Pages 2 0 R >>",
                b"<< /Type /Pages /Kids [6 0 R] /Count 1 >>",
                b"<< /Type /Page /Parent 6 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> "
                b"/Contents 5 0 R >>",
                FONT_OBJ,
                stream(CONTENT),
                b"<< /Type /Pages /Parent 2 0 R /Kids [2 0 R 3 0 R] /Count 1 >>",
            ]
        ),
        note="two /Pages nodes that are each other's kid",
    )
    yield Case(
        "pdf-pagetree-huge-count.pdf",
        cat,
        lambda: page_pdf().replace(b"/Count 1", b"/Count 2147483647"),
        note="/Count of two billion over one page",
    )
    depth = 20_000

    def deep_tree() -> bytes:
        objects = [b"<< /Type /Catalog /Pages 2 0 R >>"]
        for i in range(depth):
            objects.append(b"<< /Type /Pages /Kids [%d 0 R] /Count 1 >>" % (i + 3))
        page_no = depth + 2
        objects.append(
            b"<< /Type /Page /MediaBox [0 0 595 842] /Resources << /Font << /F1 %d 0 R >> >> /Contents %d 0 R >>"
            % (page_no + 1, page_no + 2)
        )
        objects += [FONT_OBJ, stream(CONTENT)]
        return raw_pdf(objects)

    yield Case("pdf-pagetree-20000-deep.pdf", cat, deep_tree, note="page tree 20,000 levels deep")
    yield Case(
        "pdf-pagetree-form-recursion.pdf",
        cat,
        lambda: page_pdf(
            b"/X1 Do",
            resources=b"6 0 R",
            extra_objects=[
                b"<< /Font << /F1 4 0 R >> /XObject << /X1 7 0 R >> >>",
                stream(CONTENT + b" /X1 Do", b"/Type /XObject /Subtype /Form /BBox [0 0 595 842] /Resources 6 0 R "),
            ],
        ),
        note="a form XObject that draws itself",
    )
    yield Case(
        "pdf-pagetree-contents-100k.pdf",
        cat,
        lambda: page_pdf().replace(b"/Contents 5 0 R", b"/Contents [" + b"5 0 R " * 100_000 + b"]"),
        note="one content stream listed 100,000 times",
    )
    yield Case(
        "pdf-pagetree-resources-loop.pdf",
        cat,
        lambda: page_pdf(resources=b"3 0 R"),
        note="a page that is its own resource dictionary",
    )
    yield Case(
        "pdf-pagetree-weird-boxes.pdf",
        cat,
        lambda: page_pdf(page_extra=b"/Rotate 123456789 /UserUnit 1e308 ").replace(
            b"/MediaBox [0 0 595 842]", b"/MediaBox [0 0 1e308 -1e308]"
        ),
        note="absurd page box, rotation and unit",
    )
    yield Case(
        "pdf-pagetree-no-pages.pdf",
        cat,
        lambda: raw_pdf([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [] /Count 0 >>"]),
        "rejected",
        "a document without pages",
    )
    yield Case(
        "pdf-pagetree-outline-cycle.pdf",
        cat,
        lambda: page_pdf(
            extra_objects=[
                b"<< /Type /Outlines /First 7 0 R /Last 7 0 R >>",
                b"<< /Title (a) /Parent 6 0 R /Next 7 0 R /First 7 0 R >>",
            ]
        ).replace(b"/Pages 2 0 R >>", b"/Pages 2 0 R /Outlines 6 0 R >>", 1),
        expect="any",
        note="an outline whose entry is its own next and first child",
    )


def pdf_misc_cases() -> Iterator[Case]:
    cat = "pdf-misc"
    yield Case(
        "pdf-misc-header-only.pdf", cat, lambda: b"%PDF-1.7\n", "rejected", "nothing but the header", sample=True
    )
    yield Case(
        "pdf-misc-random.pdf",
        cat,
        lambda: random.Random("pdf-random").randbytes(64 * KB),
        "rejected",
        "random bytes",
    )
    yield Case(
        "pdf-misc-header-random.pdf",
        cat,
        lambda: b"%PDF-1.4\n" + random.Random("pdf-header-random").randbytes(64 * KB),
        "rejected",
        "a header, then random bytes",
    )
    yield Case(
        "pdf-misc-html.pdf",
        cat,
        lambda: b"<html><body><p>Day khong phai PDF</p></body></html>",
        "rejected",
        "an HTML page named .pdf",
    )
    yield Case(
        "pdf-misc-postscript.pdf",
        cat,
        lambda: b"%!PS-Adobe-3.0\n/Helvetica findfont 12 scalefont setfont 72 720 moveto (x) show showpage\n",
        "rejected",
        "PostScript named .pdf",
    )
    yield Case(
        "pdf-misc-no-text.pdf",
        cat,
        lambda: page_pdf(b"0 0 m 100 100 l S"),
        "rejected",
        "a page with lines but no text",
    )
    yield Case(
        "pdf-misc-scanned.pdf",
        cat,
        scanned_pdf,
        expect="any",
        note="a scanned page (an image, no text layer): OCR when installed, else rejected",
    )
    yield Case(
        "pdf-misc-null-bytes.pdf",
        cat,
        lambda: page_pdf().replace(b"endobj", b"endobj\x00\x00\x00\x00"),
        note="NUL bytes between objects",
    )
    yield Case(
        "pdf-misc-lone-surrogates.pdf",
        cat,
        lambda: page_pdf(
            b"BT /F1 12 Tf 72 720 Td (Nghi quyet co ky tu la) Tj ET",
            font_obj=b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /ToUnicode 6 0 R >>",
            extra_objects=[
                stream(
                    b"/CIDInit /ProcSet findresource begin 12 dict begin begincmap 1 begincodespacerange <00> <FF> "
                    b"endcodespacerange 2 beginbfchar <4E> <D800> <67> <DFFF> endbfchar endcmap end end"
                )
            ],
        ),
        note="a ToUnicode map giving lone UTF-16 surrogates",
    )
    yield Case(
        "pdf-misc-valid-control.pdf",
        cat,
        lambda: base_pdf("fpdf"),
        "ok",
        "a valid PDF (control)",
        sample=True,
    )


def scanned_pdf() -> bytes:
    """A page holding only a grey image (no text layer)."""
    width, height = 200, 60
    pixels = bytes(255 if (x // 10 + y // 10) % 2 else 200 for y in range(height) for x in range(width))
    return raw_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /XObject << /Im1 5 0 R >> >> "
            b"/Contents 4 0 R >>",
            stream(b"q 500 0 0 150 40 600 cm /Im1 Do Q"),
            flate_stream(
                zlib.compress(pixels, 9),
                b"/Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray /BitsPerComponent 8 "
                % (width, height),
            ),
        ]
    )


def docx_cases() -> Iterator[Case]:
    base = base_docx
    for i, frac in enumerate([0.02, 0.1, 0.25, 0.5, 0.75, 0.9, 0.98, 0.999]):
        yield Case(
            f"docx-truncated-{int(frac * 1000):03d}pm.docx",
            "docx-truncated",
            partial(cut, base, frac),
            "rejected",
            f"cut at {frac:.1%}",
            sample=i == 3,
        )
    for i in range(12):

        def build(i: int = i) -> bytes:
            rng = random.Random(f"docx-flip-{i}")
            if i % 4 == 3:
                return overwrite_block(base(), rng, 32 * (i + 1))
            return bit_flip(base(), rng, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048][i])

        yield Case(f"docx-bitflip-{i:02d}.docx", "docx-bitflip", build, note="bits flipped", sample=i == 1)

    cat = "docx-zipbomb"
    yield Case(
        "docx-zipbomb-document-1gb.docx",
        cat,
        lambda: raw_zip_entry(base(), "word/document.xml", cached_bomb(1 * GB, b" ")),
        "rejected",
        "word/document.xml inflating to 1 GB",
        sample=True,
    )
    yield Case(
        "docx-zipbomb-lying-size.docx",
        cat,
        lambda: raw_zip_entry(base(), "word/document.xml", cached_bomb(1 * GB, b" "), declared_size=4096),
        "rejected",
        "document.xml inflating to 1 GB while its header says 4 KB",
    )
    yield Case(
        "docx-zipbomb-image-part.docx",
        cat,
        lambda: raw_zip_entry(
            docx_with({}, extra=[("word/media/image1.png", b"placeholder")]),
            "word/media/image1.png",
            cached_bomb(1 * GB),
            declared_size=11,
        ),
        note="an image part inflating to 1 GB while its header says 11 bytes",
    )
    yield Case(
        "docx-zipbomb-styles-1gb.docx",
        cat,
        lambda: raw_zip_entry(base(), "word/styles.xml", cached_bomb(1 * GB, b" "), declared_size=2048),
        note="styles.xml inflating to 1 GB, header says 2 KB",
    )
    yield Case(
        "docx-zipbomb-30000-entries.docx",
        cat,
        lambda: docx_with({}, extra=[(f"junk/{i}.xml", b"<a/>") for i in range(30_000)]),
        "rejected",
        "30,000 entries",
    )
    yield Case(
        "docx-zipbomb-15000-entries.docx",
        cat,
        lambda: docx_with({}, extra=[(f"junk/{i}.xml", b"<a/>") for i in range(15_000)]),
        "ok",
        "15,000 unused entries (under the limit)",
    )
    yield Case(
        "docx-zipbomb-nested-zip.docx",
        cat,
        lambda: docx_with({}, extra=[("word/embeddings/inner.zip", make_zip([("x", cached_bomb(1 * GB))]))]),
        "ok",
        "a zip inside the package holding a 1 GB bomb (never opened)",
    )
    yield Case(
        "docx-zipbomb-overlapping.docx",
        cat,
        overlapping_zip,
        "rejected",
        "1,000 central-directory entries sharing one compressed kernel",
    )

    cat = "docx-xml"
    body = "".join(para(line) for line in LINES)
    yield Case(
        "docx-xml-truncated.docx",
        cat,
        lambda: docx_with({"word/document.xml": document_xml(body)[:-200]}),
        "rejected",
        "document.xml cut mid-tag",
        sample=True,
    )
    yield Case(
        "docx-xml-unclosed.docx",
        cat,
        lambda: docx_with({"word/document.xml": document_xml(body).replace(b"</w:p>", b"", 3)}),
        "rejected",
        "paragraphs never closed",
    )
    yield Case(
        "docx-xml-control-chars.docx",
        cat,
        lambda: docx_with({"word/document.xml": document_xml(para("Nghị\x01quyết\x0b") + body)}),
        "rejected",
        "control characters XML forbids",
    )
    yield Case(
        "docx-xml-bad-utf8.docx",
        cat,
        lambda: docx_with({"word/document.xml": document_xml(body).replace("Nghị".encode(), b"Ngh\xff\xfe")}),
        "rejected",
        "invalid UTF-8 in a UTF-8 document",
    )
    yield Case(
        "docx-xml-declared-utf16.docx",
        cat,
        lambda: docx_with({"word/document.xml": document_xml(body).replace(b'encoding="UTF-8"', b'encoding="UTF-16"')}),
        note="declares UTF-16, is UTF-8",
    )
    yield Case(
        "docx-xml-empty.docx",
        cat,
        lambda: docx_with({"word/document.xml": b""}),
        "rejected",
        "an empty document.xml",
    )
    yield Case(
        "docx-xml-binary.docx",
        cat,
        lambda: docx_with({"word/document.xml": random.Random("docx-bin").randbytes(8 * KB)}),
        "rejected",
        "random bytes as document.xml",
    )
    yield Case(
        "docx-xml-wrong-root.docx",
        cat,
        lambda: docx_with({"word/document.xml": b"<html><body><p>Nghi quyet</p></body></html>"}),
        "rejected",
        "an HTML page as document.xml",
    )
    yield Case(
        "docx-xml-no-body.docx",
        cat,
        lambda: docx_with({"word/document.xml": f'<w:document xmlns:w="{W_NS}"/>'.encode()}),
        "rejected",
        "a document without w:body",
    )
    yield Case(
        "docx-xml-deep-nesting.docx",
        cat,
        lambda: docx_with(
            {
                "word/document.xml": document_xml(
                    "<w:sdt><w:sdtContent>" * 100_000 + para("sâu") + "</w:sdtContent></w:sdt>" * 100_000
                )
            }
        ),
        note="content controls nested 100,000 deep",
    )
    yield Case(
        "docx-xml-deep-tables.docx",
        cat,
        lambda: docx_with(
            {
                "word/document.xml": document_xml(
                    "<w:tbl><w:tr><w:tc>" * 2000 + para("bảng") + "</w:tc></w:tr></w:tbl>" * 2000
                )
            }
        ),
        note="tables nested 2,000 deep",
    )
    yield Case(
        "docx-xml-million-runs.docx",
        cat,
        lambda: docx_with(
            {"word/document.xml": document_xml("<w:p>" + "<w:r><w:t>ă</w:t></w:r>" * 1_000_000 + "</w:p>")}
        ),
        note="one paragraph of a million runs",
    )
    yield Case(
        "docx-xml-many-paragraphs.docx",
        cat,
        lambda: docx_with({"word/document.xml": document_xml(para("Đoạn văn thử nghiệm.") * 300_000)}),
        note="300,000 paragraphs",
    )

    cat = "docx-entities"
    laughs = (
        '<!DOCTYPE w:document [<!ENTITY lol "lol">'
        + "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10))
        + "]>"
    )
    yield Case(
        "docx-entities-billion-laughs.docx",
        cat,
        lambda: docx_with({"word/document.xml": document_xml(para("&lol9;"), prolog=laughs)}),
        note="billion laughs in document.xml",
        sample=True,
    )
    yield Case(
        "docx-entities-quadratic.docx",
        cat,
        lambda: docx_with(
            {
                "word/document.xml": document_xml(
                    para("&big;" * 50_000), prolog=f'<!DOCTYPE w:document [<!ENTITY big "{"x" * 50_000}">]>'
                )
            }
        ),
        note="quadratic blowup: a 50 KB entity used 50,000 times",
    )
    yield Case(
        "docx-entities-xxe-file.docx",
        cat,
        lambda: docx_with(
            {
                "word/document.xml": document_xml(
                    para("Nội dung: &xxe;"), prolog='<!DOCTYPE w:document [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
                )
            }
        ),
        note="an external entity naming /etc/passwd (must never be read)",
    )
    yield Case(
        "docx-entities-xxe-network.docx",
        cat,
        lambda: docx_with(
            {
                "word/document.xml": document_xml(
                    para("&xxe;"), prolog='<!DOCTYPE w:document [<!ENTITY xxe SYSTEM "http://192.0.2.1/x">]>'
                )
            }
        ),
        note="an external entity on the network (must never be fetched)",
    )
    yield Case(
        "docx-entities-parameter.docx",
        cat,
        lambda: docx_with(
            {
                "word/document.xml": document_xml(
                    para("x"),
                    prolog='<!DOCTYPE w:document [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]>',
                )
            }
        ),
        note="an external parameter entity",
    )
    yield Case(
        "docx-entities-styles-laughs.docx",
        cat,
        lambda: docx_with(
            {"word/styles.xml": (laughs + f'<w:styles xmlns:w="{W_NS}"><w:style>&lol9;</w:style></w:styles>').encode()}
        ),
        note="billion laughs in styles.xml",
    )
    yield Case(
        "docx-entities-content-types.docx",
        cat,
        lambda: docx_with(
            {
                "[Content_Types].xml": docx_parts()["[Content_Types].xml"].replace(
                    b"<Types", laughs.replace("w:document", "Types").encode() + b"<Types", 1
                )
            }
        ),
        note="billion laughs in [Content_Types].xml",
    )

    cat = "docx-parts"
    yield Case(
        "docx-parts-no-content-types.docx",
        cat,
        lambda: docx_with({"[Content_Types].xml": None}),
        "rejected",
        "no [Content_Types].xml",
        sample=True,
    )
    yield Case("docx-parts-no-rels.docx", cat, lambda: docx_with({"_rels/.rels": None}), note="no _rels/.rels")
    yield Case(
        "docx-parts-no-document.docx",
        cat,
        lambda: docx_with({"word/document.xml": None}),
        "rejected",
        "no word/document.xml",
    )
    yield Case(
        "docx-parts-rels-missing-target.docx",
        cat,
        lambda: docx_with(
            {
                "word/_rels/document.xml.rels": docx_parts()["word/_rels/document.xml.rels"].replace(
                    b'Target="styles.xml"', b'Target="khong-co.xml"'
                )
            }
        ),
        note="a relationship to a part that is not there",
    )
    yield Case(
        "docx-parts-rels-escape.docx",
        cat,
        lambda: docx_with(
            {
                "_rels/.rels": docx_parts()["_rels/.rels"].replace(
                    b'Target="word/document.xml"', b'Target="../../../../etc/passwd"'
                )
            }
        ),
        "rejected",
        "the main part named outside the package",
    )
    yield Case(
        "docx-parts-rels-external.docx",
        cat,
        lambda: docx_with(
            {
                "_rels/.rels": docx_parts()["_rels/.rels"].replace(
                    b'Target="word/document.xml"', b'Target="http://192.0.2.1/document.xml" TargetMode="External"'
                )
            }
        ),
        note="the main part on the network",
    )
    yield Case(
        "docx-parts-wrong-content-type.docx",
        cat,
        lambda: docx_with(
            {
                "[Content_Types].xml": docx_parts()["[Content_Types].xml"].replace(
                    b"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
                    b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
                )
            }
        ),
        "rejected",
        "the main part typed as a spreadsheet",
    )
    yield Case(
        "docx-parts-xlsx-renamed.docx",
        cat,
        lambda: make_zip(
            [
                (
                    "[Content_Types].xml",
                    b'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>',
                ),
                ("xl/workbook.xml", b"<workbook/>"),
            ]
        ),
        "rejected",
        "a spreadsheet package named .docx",
    )
    yield Case(
        "docx-parts-odt-renamed.docx",
        cat,
        lambda: make_zip(
            [("mimetype", b"application/vnd.oasis.opendocument.text"), ("content.xml", b"<office:document-content/>")]
        ),
        "rejected",
        "an OpenDocument text named .docx",
    )
    yield Case(
        "docx-parts-bad-numbering.docx",
        cat,
        lambda: docx_with(
            {
                "word/document.xml": document_xml(
                    '<w:p><w:pPr><w:numPr><w:ilvl w:val="999999999999"/><w:numId w:val="77"/></w:numPr>'
                    '<w:pStyle w:val="Loop"/></w:pPr><w:r><w:t>Mục có số lạ</w:t></w:r></w:p>' + body
                ),
                "word/styles.xml": (
                    f'<w:styles xmlns:w="{W_NS}"><w:style w:type="paragraph" w:styleId="Loop">'
                    '<w:name w:val="Loop"/><w:basedOn w:val="Loop"/></w:style></w:styles>'
                ).encode(),
            }
        ),
        "ok",
        "numbering that does not exist and a style based on itself",
    )

    cat = "docx-notzip"
    yield Case(
        "docx-notzip-random.docx",
        cat,
        lambda: random.Random("docx-rand").randbytes(32 * KB),
        "rejected",
        "random bytes",
        sample=True,
    )
    yield Case("docx-notzip-text.docx", cat, lambda: TEXT.encode(), "rejected", "plain text named .docx")
    yield Case(
        "docx-notzip-ole2.docx",
        cat,
        lambda: bytes.fromhex("d0cf11e0a1b11ae1") + random.Random("ole").randbytes(16 * KB),
        "rejected",
        "an old Word (.doc, OLE2) file named .docx",
    )
    yield Case("docx-notzip-empty-zip.docx", cat, lambda: make_zip([]), "rejected", "an empty zip")
    yield Case(
        "docx-notzip-pk-garbage.docx",
        cat,
        lambda: b"PK\x03\x04" + random.Random("pk").randbytes(4 * KB),
        "rejected",
        "a zip signature, then random bytes",
    )
    yield Case("docx-valid-control.docx", "docx-valid", base, "ok", "a valid DOCX (control)", sample=True)


def raw_zip_entry(container: bytes, name: str, zlib_stream: bytes, *, declared_size: int | None = None) -> bytes:
    """Rebuild a zip whose entry `name` holds the raw deflate data of `zlib_stream` (a bomb), optionally with a
    lying uncompressed size in its headers."""
    src = zipfile.ZipFile(io.BytesIO(container))
    raw = zlib_stream[2:-4]  # zlib header and checksum off: zip holds raw deflate
    true_size = _inflated_size(zlib_stream)
    crc = _bomb_crc(zlib_stream)
    entries: list[tuple[bytes, bytes, int, int, int, int]] = []  # name, data, method, crc, csize, usize
    for info in src.infolist():
        if info.filename == name:
            continue
        data = src.read(info.filename)
        comp = zlib.compressobj(9, zlib.DEFLATED, -15)
        packed = comp.compress(data) + comp.flush()
        entries.append((info.filename.encode(), packed, 8, zlib.crc32(data), len(packed), len(data)))
    size = true_size if declared_size is None else declared_size
    entries.append((name.encode(), raw, 8, crc, len(raw), size))
    return _write_zip(entries)


def _inflated_size(zlib_stream: bytes) -> int:
    d = zlib.decompressobj()
    total = 0
    buf = zlib_stream
    while buf:
        total += len(d.decompress(buf, 1 << 26))
        buf = d.unconsumed_tail
    return total


_CRC_CACHE: dict[int, int] = {}


def _bomb_crc(zlib_stream: bytes) -> int:
    key = id(zlib_stream)
    if key not in _CRC_CACHE:
        d = zlib.decompressobj()
        crc = 0
        buf = zlib_stream
        while buf:
            crc = zlib.crc32(d.decompress(buf, 1 << 26), crc)
            buf = d.unconsumed_tail
        _CRC_CACHE[key] = crc
    return _CRC_CACHE[key]


def _write_zip(entries: list[tuple[bytes, bytes, int, int, int, int]]) -> bytes:
    """A zip file written by hand (sizes above 4 GB are capped, the point being to lie, not to be exact)."""
    import struct

    out = bytearray()
    central = bytearray()
    for name, data, method, crc, csize, usize in entries:
        usize = min(usize, 0xFFFFFFFE)
        offset = len(out)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0x5996, crc, csize, usize, len(name), 0)
        out += name + data
        central += struct.pack(
            "<IHHHHHHIIIHHHHHII",
            0x02014B50,
            20,
            20,
            0,
            method,
            0,
            0x5996,
            crc,
            csize,
            usize,
            len(name),
            0,
            0,
            0,
            0,
            0,
            offset,
        )
        central += name
    cd_offset = len(out)
    out += central
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(central), cd_offset, 0)
    return bytes(out)


def overlapping_zip() -> bytes:
    """Many central-directory entries pointing at one local file (the "overlapping files" bomb)."""
    import struct

    kernel = cached_bomb(64 * MB, b" ")[2:-4]
    size = 64 * MB
    crc = zlib.crc32(b" " * size)
    name = b"word/document.xml"
    out = bytearray(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x5996, crc, len(kernel), size, len(name), 0))
    out += name + kernel
    central = bytearray()
    names = [b"[Content_Types].xml", b"_rels/.rels", name] + [b"word/p%04d.xml" % i for i in range(997)]
    for n in names:
        central += struct.pack(
            "<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0x5996, crc, len(kernel), size, len(n), 0, 0, 0, 0, 0, 0
        )
        central += n
    cd = len(out)
    out += central + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(names), len(names), len(central), cd, 0)
    return bytes(out)


def html_cases() -> Iterator[Case]:
    cat = "html-nesting"
    text = "<p>Nghị quyết số 99-NQ/TW về thử nghiệm độ bền.</p>"
    yield Case(
        "html-nesting-divs-unclosed.html",
        cat,
        lambda: b"<html><body>" + b"<div>" * 500_000 + text.encode(),
        "ok",
        "500,000 div never closed (2.5 MB)",
        sample=True,
    )
    yield Case(
        "html-nesting-divs-balanced.html",
        cat,
        lambda: b"<div>" * 300_000 + text.encode() + b"</div>" * 300_000,
        "ok",
        "divs nested 300,000 deep",
    )
    yield Case(
        "html-nesting-tables.html",
        cat,
        lambda: b"<table><tr><td>" * 100_000 + text.encode(),
        "ok",
        "tables nested 100,000 deep, never closed",
    )
    yield Case(
        "html-nesting-lists.html", cat, lambda: b"<ul><li>" * 200_000 + text.encode(), "ok", "lists nested 200,000 deep"
    )
    yield Case(
        "html-nesting-bold.html", cat, lambda: b"<b><i>" * 500_000 + text.encode(), "ok", "a million inline tags open"
    )
    yield Case(
        "html-nesting-orphan-closers.html",
        cat,
        lambda: text.encode() + b"</div></td></tr></table>" * 200_000,
        "ok",
        "a million end tags without start",
    )
    yield Case(
        "html-nesting-empty-paragraphs.html",
        cat,
        lambda: b"<p></p>" * 1_000_000 + text.encode(),
        "ok",
        "a million empty paragraphs",
    )
    yield Case(
        "html-nesting-skip-tags.html",
        cat,
        lambda: b"<script>" * 200_000 + text.encode(),
        "any",
        "200,000 script tags never closed",
    )
    yield Case(
        "html-nesting-svg.html", cat, lambda: text.encode() + b"<svg><g>" * 300_000, "ok", "SVG groups 300,000 deep"
    )

    cat = "html-attributes"
    yield Case(
        "html-attributes-20mb-value.html",
        cat,
        lambda: b'<p title="' + b"A" * (20 * MB) + b'">' + text.encode(),
        "ok",
        "an attribute of 20 MB",
        sample=True,
    )
    yield Case(
        "html-attributes-many.html",
        cat,
        lambda: b"<p " + b" ".join(b"a%d=x" % i for i in range(200_000)) + b">" + text.encode(),
        "ok",
        "200,000 attributes on one tag",
    )
    yield Case(
        "html-attributes-unterminated.html",
        cat,
        lambda: text.encode() + b'<a href="' + b"x" * (10 * MB),
        "ok",
        "a quote never closed, 10 MB to the end",
    )
    yield Case(
        "html-attributes-entity-flood.html",
        cat,
        lambda: b'<p title="' + b"&amp;" * 1_000_000 + b'">' + text.encode(),
        "ok",
        "a million entity references in an attribute",
    )
    yield Case(
        "html-attributes-bad-charrefs.html",
        cat,
        lambda: ("<p>Nghị quyết &#x110000; &#0; &#xD800; &#99999999999999999999; &#x; &#xDFFF;x</p>" * 1000).encode(),
        "ok",
        "character references out of range and to surrogates",
    )
    yield Case(
        "html-attributes-hidden-body.html",
        cat,
        lambda: b'<body style="display:none">' + text.encode() + b"</body>",
        "rejected",
        "all text hidden",
    )
    yield Case(
        "html-attributes-comment-unclosed.html",
        cat,
        lambda: text.encode() + b"<!--" + b"x" * (5 * MB),
        "ok",
        "a comment never closed (5 MB)",
    )
    yield Case(
        "html-attributes-cdata.html",
        cat,
        lambda: text.encode() + b"<![CDATA[" + b"]" * (5 * MB),
        "ok",
        "a CDATA section never closed",
    )
    yield Case(
        "html-attributes-lone-lt.html", cat, lambda: text.encode() + b"< " * (2 * MB), "ok", "four million lone '<'"
    )
    yield Case(
        "html-attributes-huge-title.html",
        cat,
        lambda: b"<title>" + "Tiêu đề ".encode() * 600_000 + b"</title>" + text.encode(),
        "any",
        "a 6 MB title",
    )

    cat = "html-encoding"
    page = f"<html><head><title>Nghị quyết</title></head><body>{text}</body></html>"
    for codec in (
        "rot13",
        "base64",
        "zlib",
        "hex",
        "uu",
        "idna",
        "punycode",
        "undefined",
        "unicode_escape",
        "utf-7",
        "x-no-such",
    ):
        yield Case(
            f"html-encoding-charset-{codec}.html",
            cat,
            f'<meta charset="{codec}">{page}'.encode,
            "ok",
            f"<meta charset> naming {codec!r}",
            sample=codec == "rot13",
        )
    yield Case(
        "html-encoding-utf16le-nobom.html", cat, lambda: page.encode("utf-16-le"), "any", "UTF-16 LE without BOM"
    )
    yield Case(
        "html-encoding-utf16be-nobom.html", cat, lambda: page.encode("utf-16-be"), "any", "UTF-16 BE without BOM"
    )
    yield Case(
        "html-encoding-cp1258-declared-utf8.html",
        cat,
        lambda: ('<meta charset="utf-8">' + page).encode("cp1258", "replace"),
        "ok",
        "says UTF-8, is Windows-1258",
    )
    yield Case(
        "html-encoding-utf8-declared-1258.html",
        cat,
        lambda: ('<meta charset="windows-1258">' + page).encode(),
        "ok",
        "says Windows-1258, is UTF-8",
    )
    yield Case(
        "html-encoding-nul-bytes.html",
        cat,
        lambda: page.encode().replace(b" ", b"\x00 "),
        "rejected",
        "NUL bytes everywhere (read as binary)",
    )
    yield Case(
        "html-encoding-long-charset.html",
        cat,
        lambda: b'<meta charset="' + b"u" * MB + b'">' + page.encode(),
        "ok",
        "a charset name of 1 MB",
    )
    yield Case(
        "html-encoding-tcvn3.html",
        "legacy",
        lambda: b"<html><body><p>" + _tcvn3(TEXT).replace(b"\n", b"</p><p>") + b"</p></body></html>",
        "ok",
        "TCVN3 (ABC font) text",
        sample=True,
    )
    yield Case(
        "html-valid-control.html", "html-valid", lambda: page.encode(), "ok", "a valid page (control)", sample=True
    )


def _tcvn3(text: str) -> bytes:
    from rag.text.legacy import to_tcvn3

    return to_tcvn3(text)


def _vni(text: str) -> bytes:
    from rag.text.legacy import to_vni

    return to_vni(text)


def text_cases() -> Iterator[Case]:
    cat = "binary-as-text"
    for ext in (".txt", ".md", ".html", ".htm", ".jsonl", ".markdown", ".text"):
        yield Case(
            f"binary-as-text-random{ext}",
            cat,
            partial(rng_bytes, f"bin{ext}", 32 * KB),
            "rejected",
            f"random bytes named {ext}",
            sample=ext in (".txt", ".jsonl"),
        )
    yield Case(
        "binary-as-text-png.txt",
        cat,
        lambda: b"\x89PNG\r\n\x1a\n" + rng_bytes("png", 8 * KB),
        "rejected",
        "a PNG named .txt",
    )
    yield Case(
        "binary-as-text-gzip.md", cat, lambda: zlib.compress(TEXT.encode() * 100), "any", "deflated text named .md"
    )
    yield Case(
        "binary-as-text-elf.txt",
        cat,
        lambda: b"\x7fELF\x02\x01\x01" + bytes(9) + rng_bytes("elf", 16 * KB),
        "rejected",
        "an executable named .txt",
    )
    yield Case("binary-as-text-pdf.txt", cat, lambda: base_pdf("fpdf"), "rejected", "a PDF named .txt")
    yield Case("binary-as-text-docx.md", cat, base_docx, "rejected", "a DOCX named .md")

    cat = "empty"
    for ext in (".pdf", ".docx", ".html", ".htm", ".md", ".markdown", ".txt", ".text", ".jsonl"):
        yield Case(f"empty-file{ext}", cat, lambda: b"", "rejected", "an empty file", sample=ext in (".pdf", ".jsonl"))
    for ext, blob in (
        (".txt", b"   \n\n\t\r\n"),
        (".md", b"\n\n# \n---\n"),
        (".html", b"<html><body></body></html>"),
        (".jsonl", b"\n\n\n"),
        (".txt", b"\xef\xbb\xbf"),
    ):
        yield Case(
            f"empty-blank-{ext[1:]}-{len(blob)}{ext}",
            cat,
            partial(bytes, blob),
            "rejected",
            "nothing but blanks or markup",
        )
    yield Case(
        "empty-invisible.txt",
        cat,
        lambda: "\u200b\u200c\u200d\ufeff\u00ad".encode() * 100_000,
        "rejected",
        "only invisible characters",
    )

    cat = "encoding"
    yield Case(
        "encoding-utf16le-nobom.txt", cat, lambda: TEXT.encode("utf-16-le"), "any", "UTF-16 LE without BOM", sample=True
    )
    yield Case("encoding-utf16be-nobom.md", cat, lambda: TEXT.encode("utf-16-be"), "any", "UTF-16 BE without BOM")
    yield Case("encoding-utf32le-nobom.txt", cat, lambda: TEXT.encode("utf-32-le"), "any", "UTF-32 LE without BOM")
    yield Case(
        "encoding-utf16-bom-odd-length.txt",
        cat,
        lambda: "\ufeff".encode("utf-16-le") + TEXT.encode("utf-16-le") + b"\x00",
        "rejected",
        "UTF-16 with BOM, odd length",
    )
    yield Case(
        "encoding-utf8-bom-invalid.txt",
        cat,
        lambda: b"\xef\xbb\xbf" + TEXT.encode() + b"\xff\xfe\xfa",
        "rejected",
        "UTF-8 BOM, then invalid bytes",
    )
    yield Case(
        "encoding-overlong-utf8.txt",
        cat,
        lambda: TEXT.encode() + b"\xc0\xaf\xe0\x80\xaf",
        "any",
        "overlong UTF-8 sequences",
    )
    yield Case(
        "encoding-cesu8-surrogates.txt",
        cat,
        lambda: TEXT.encode() + b"\xed\xa0\x80\xed\xb0\x80",
        "any",
        "surrogates encoded as UTF-8 (CESU-8)",
    )
    yield Case(
        "encoding-mixed-utf8-cp1258.txt",
        cat,
        lambda: TEXT.encode() + TEXT.encode("cp1258", "replace") + _tcvn3(TEXT),
        "any",
        "UTF-8, Windows-1258 and TCVN3 lines in one file",
        sample=True,
    )
    yield Case("encoding-cp1258.txt", cat, lambda: TEXT.encode("cp1258", "replace"), "ok", "Windows-1258")
    yield Case(
        "encoding-latin1.md",
        cat,
        lambda: "Résolution numéro 99 — texte d'essai.\n".encode("latin-1", "replace") * 50,
        "ok",
        "Latin-1",
    )
    yield Case(
        "encoding-shift-jis.txt",
        cat,
        lambda: "決議第九十九号、試験文書です。\n".encode("shift_jis") * 50,
        "any",
        "Shift-JIS",
    )
    yield Case(
        "encoding-nul-sprinkled.txt",
        cat,
        lambda: (TEXT.encode() + b"\x00") * 200,
        "rejected",
        "NUL bytes among the lines (binary)",
    )
    yield Case(
        "encoding-nul-late.txt",
        cat,
        lambda: TEXT.encode() * 200 + b"\x00" + TEXT.encode(),
        "ok",
        "one NUL after the first 64 KB",
        sample=True,
    )
    yield Case(
        "encoding-controls.txt",
        cat,
        lambda: (TEXT + "\x1b[31m\x07\x08\x7f\x85\x9c").encode() * 20,
        "any",
        "terminal escapes and C1 controls",
    )
    yield Case(
        "encoding-crlf-cr-only.md", cat, lambda: TEXT.replace("\n", "\r").encode(), "ok", "old Mac line ends (CR only)"
    )
    yield Case(
        "encoding-nfd.txt",
        cat,
        lambda: __import__("unicodedata").normalize("NFD", TEXT).encode(),
        "ok",
        "decomposed (NFD) Vietnamese",
    )
    yield Case(
        "encoding-bidi-zero-width.md",
        cat,
        lambda: "".join(c + "\u200b\u202e" for c in TEXT).encode(),
        "ok",
        "zero-width and bidi controls between letters",
    )

    cat = "legacy"
    yield Case("legacy-tcvn3.txt", cat, lambda: _tcvn3(TEXT).replace(b"\n", b"\r\n"), "ok", "TCVN3 (ABC) text")
    yield Case("legacy-vni.txt", cat, lambda: _vni(TEXT), "ok", "VNI text")
    yield Case("legacy-vni.md", cat, lambda: b"# " + _vni(TEXT), "ok", "VNI markdown")
    yield Case(
        "legacy-tcvn3-docx.docx",
        cat,
        lambda: docx_with(
            {"word/document.xml": document_xml("".join(para(_tcvn3(line).decode("latin-1")) for line in LINES))}
        ),
        "ok",
        "a DOCX typed in a TCVN3 font",
    )

    cat = "text-pathological"
    yield Case(
        "text-pathological-one-line-30mb.txt",
        cat,
        lambda: ("Nghị quyết " * 2_800_000).encode(),
        "any",
        "one 30 MB line",
    )
    yield Case("text-pathological-2m-lines.txt", cat, lambda: b"a\n" * 2_000_000, "any", "two million one-letter lines")
    yield Case("text-pathological-long-word.txt", cat, lambda: b"x" * (10 * MB), "any", "a 10 MB word")
    yield Case(
        "text-pathological-brackets.md",
        cat,
        lambda: b"[" * 500_000 + b"\n" + TEXT.encode(),
        "any",
        "half a million '['",
        sample=True,
    )
    yield Case(
        "text-pathological-link-starts.md",
        cat,
        lambda: b"[a](" * 200_000 + b"\n" + TEXT.encode(),
        "any",
        "200,000 unfinished links",
    )
    yield Case(
        "text-pathological-link-parens.md",
        cat,
        lambda: b"[a](" + b"(" * 200_000 + b"\n" + TEXT.encode(),
        "any",
        "a link of 200,000 '('",
    )
    yield Case(
        "text-pathological-stars.md", cat, lambda: b"**" * 1_000_000 + b"\n" + TEXT.encode(), "any", "a million '**'"
    )
    yield Case(
        "text-pathological-underscores.md",
        cat,
        lambda: b"_a" * 1_000_000 + b"\n" + TEXT.encode(),
        "any",
        "a million '_a'",
    )
    yield Case(
        "text-pathological-table.md",
        cat,
        lambda: b"|" + b" x |" * 200_000 + b"\n" + TEXT.encode(),
        "any",
        "a table row of 200,000 cells",
    )
    yield Case(
        "text-pathological-quotes.md",
        cat,
        lambda: b">" * 200_000 + b" x\n" + TEXT.encode(),
        "any",
        "a quote 200,000 levels deep",
    )
    yield Case(
        "text-pathological-fence.md",
        cat,
        lambda: TEXT.encode() + b"```\n" + b"code\n" * 1_000_000,
        "any",
        "a code fence never closed",
    )
    yield Case(
        "text-pathological-numbered.txt",
        cat,
        lambda: "".join(f"{i % 999 + 1}. Mục {i}\n" for i in range(300_000)).encode(),
        "any",
        "300,000 numbered lines",
    )
    yield Case(
        "text-pathological-sections.txt",
        cat,
        lambda: ("Phần I\nChương II\nMục 3\nĐiều 4.\n1.\na)\n- x\n" * 100_000).encode(),
        "any",
        "700,000 section markers",
    )
    yield Case(
        "text-pathological-combining.txt",
        cat,
        lambda: ("a" + "\u0301\u0323\u0300" * 1_000_000).encode(),
        "any",
        "a letter with three million combining marks",
    )
    yield Case(
        "text-pathological-tone-soup.txt", cat, lambda: _tone_soup(), "any", "random Vietnamese letters and tone marks"
    )


def _tone_soup() -> bytes:
    rng = random.Random("tone-soup")
    letters = "aăâeêioôơuưyđqgh" + "\u0300\u0301\u0303\u0309\u0323\u0340\u0341" + " \n"
    return "".join(rng.choice(letters) for _ in range(2_000_000)).encode()


def jsonl_cases() -> Iterator[Case]:
    cat = "jsonl"
    good = json.dumps({"id": "bai-1", "title": "Tin thử nghiệm", "text": TEXT}, ensure_ascii=False)
    yield Case(
        "jsonl-invalid-utf8-line.jsonl",
        cat,
        lambda: (good + "\n").encode() + b'{"id": "x", "title": "a", "text": "b\xff\xfe"}\n',
        "any",
        "one line with invalid UTF-8",
        sample=True,
    )
    yield Case(
        "jsonl-huge-line-30mb.jsonl",
        cat,
        lambda: json.dumps({"title": "Rất dài", "text": "Nghị quyết. " * 2_600_000}, ensure_ascii=False).encode(),
        "rejected",
        "one record of 30 MB of text",
    )
    yield Case(
        "jsonl-huge-line-25m-chars.jsonl",
        cat,
        lambda: (
            good
            + "\n"
            + json.dumps(
                {"id": "dai", "title": "Rất dài", "text": "Nghị quyết số 99. " * 1_400_000}, ensure_ascii=False
            )
        ).encode(),
        "any",
        "a record over the text limit beside a good one",
    )
    yield Case(
        "jsonl-deep-nesting.jsonl",
        cat,
        lambda: (good + "\n").encode() + b"[" * 1_000_000 + b"]" * 1_000_000 + b"\n",
        "any",
        "a line of arrays nested a million deep",
        sample=True,
    )
    yield Case(
        "jsonl-huge-int.jsonl",
        cat,
        lambda: (good + "\n").encode() + b'{"title": "a", "text": "b", "n": ' + b"9" * 5000 + b"}\n",
        "any",
        "a 5,000-digit integer",
    )
    yield Case(
        "jsonl-many-objects-line.jsonl",
        cat,
        lambda: b"[" + b"{}," * 5_000_000 + b"{}]\n",
        "rejected",
        "a line of five million empty objects (memory)",
    )
    yield Case(
        "jsonl-not-objects.jsonl",
        cat,
        lambda: (
            b'[]\n"chu"\n42\nnull\ntrue\n{"text": 5}\n{"text": ["a"]}\n{"title": ["x"], "text": "y"}\n{"text": "   "}\n'
        ),
        "rejected",
        "lines that are not usable records",
    )
    yield Case(
        "jsonl-nan-infinity.jsonl",
        cat,
        lambda: (good[:-1] + ', "score": NaN, "max": Infinity, "min": -Infinity}\n').encode(),
        "ok",
        "NaN and Infinity",
    )
    yield Case(
        "jsonl-lone-surrogates.jsonl",
        cat,
        lambda: b'{"id": "s", "title": "Tin \\ud800", "text": "Nghi quyet \\udfff va \\ud83d so 99. Noi dung."}\n',
        "any",
        "escaped lone surrogates",
    )
    yield Case(
        "jsonl-duplicate-ids.jsonl",
        cat,
        lambda: (
            "\n".join(
                json.dumps({"id": "trung", "title": f"Tin {i}", "text": f"Nội dung số {i}."}, ensure_ascii=False)
                for i in range(5)
            )
            + "\n"
        ).encode(),
        "any",
        "five records with one id",
    )
    yield Case(
        "jsonl-odd-ids.jsonl",
        cat,
        lambda: "\n".join(
            json.dumps({"id": v, "title": "Tin", "text": "Nội dung thử nghiệm."}, ensure_ascii=False)
            for v in [{"a": 1}, "../../etc/passwd", "a#b#c", "x" * 100_000, 12, "", None, "\u0000\n"]
        ).encode(),
        "any",
        "ids that are objects, paths, huge or empty",
    )
    yield Case(
        "jsonl-control-chars.jsonl",
        cat,
        lambda: json.dumps(
            {"title": "T\x00\x1b", "text": "Nội\x00 dung\x07 thử\x1b[0m nghiệm \u2028 xong."}, ensure_ascii=False
        ).encode(),
        "any",
        "control characters in strings",
    )
    yield Case(
        "jsonl-5000-records.jsonl",
        cat,
        lambda: "".join(
            json.dumps(
                {"id": f"r{i}", "title": f"Tin số {i}", "text": f"Nội dung bản tin số {i} về thử nghiệm."},
                ensure_ascii=False,
            )
            + "\n"
            for i in range(5000)
        ).encode(),
        "ok",
        "5,000 small records",
    )
    yield Case(
        "jsonl-crlf-bom.jsonl", cat, lambda: b"\xef\xbb\xbf" + (good + "\r\n").encode() * 3, "ok", "BOM and CRLF"
    )
    yield Case(
        "jsonl-utf16-bom.jsonl", cat, lambda: ("\ufeff" + good + "\n").encode("utf-16-le"), "ok", "UTF-16 with BOM"
    )
    yield Case(
        "jsonl-truncated.jsonl", cat, lambda: (good + "\n" + good)[:-40].encode(), "any", "the last record cut short"
    )
    yield Case(
        "jsonl-cp1258.jsonl", cat, lambda: (good + "\n").encode("cp1258", "replace"), "any", "Windows-1258 bytes"
    )
    yield Case(
        "jsonl-deep-metadata.jsonl",
        cat,
        lambda: (good[:-1] + ', "meta": ' + "[" * 900 + "]" * 900 + "}\n").encode(),
        "ok",
        "metadata nested 900 deep",
    )
    yield Case(
        "jsonl-valid-control.jsonl",
        "jsonl-valid",
        lambda: (good + "\n" + good.replace("bai-1", "bai-2") + "\n").encode(),
        "ok",
        "two valid records (control)",
        sample=True,
    )
    yield Case(
        "text-valid-control.md",
        "text-valid",
        lambda: ("# " + TEXT).encode(),
        "ok",
        "valid markdown (control)",
        sample=True,
    )
    yield Case("text-valid-control.txt", "text-valid", lambda: TEXT.encode(), "ok", "valid text (control)")


def all_cases() -> list[Case]:
    cases = [*pdf_cases(), *docx_cases(), *html_cases(), *text_cases(), *jsonl_cases()]
    names = [c.name for c in cases]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise SystemExit(f"duplicate names: {sorted(duplicates)}")
    return cases


def generate(out: Path, *, sample: bool = False, seed: int = 57) -> list[dict[str, object]]:
    """Write the corpus (or its sample) into `out`; returns the manifest rows."""
    random.seed(seed)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, object]] = []
    for case in all_cases():
        if sample and not case.sample:
            continue
        with seeded_randomness(f"{seed}-{case.name}"):
            data = case.build()
        (out / case.name).write_bytes(data)
        rows.append(
            {
                "name": case.name,
                "category": case.category,
                "expect": case.expect,
                "note": case.note,
                "bytes": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        )
    (out / ".manifest.json").write_text(
        json.dumps({"seed": seed, "sample": sample, "files": rows}, ensure_ascii=False, indent=1), encoding="utf-8"
    )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="folder to write into (created)")
    parser.add_argument("--seed", type=int, default=57)
    parser.add_argument("--sample", action="store_true", help="only the CI-sized sample")
    args = parser.parse_args(argv)
    rows = generate(args.out, sample=args.sample, seed=args.seed)
    categories: dict[str, int] = {}
    for row in rows:
        categories[str(row["category"])] = categories.get(str(row["category"]), 0) + 1
    total = sum(int(str(r["bytes"])) for r in rows)
    print(json.dumps({"files": len(rows), "bytes": total, "categories": categories}, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
