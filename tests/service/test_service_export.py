"""Export of answers and conversations as DOCX and PDF: citations become numbered footnotes resolved from the
library (document number, date, section, paragraph id), every page carries the highest classification among
the cited paragraphs, and nothing the caller may not see can be exported."""

from __future__ import annotations

import io
import re
import uuid
import zipfile
from pathlib import Path
from typing import Any

import docx
import pytest
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from fontTools.ttLib import TTFont
from pypdf import PdfReader

from service.app import create_app
from service.export import find_font, obfuscate
from tests.service.conftest import CANARIES, DOC_IDS, LocalClient, add_key, bearer, question_for, settings_for

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def _docx(content: bytes) -> tuple[Any, list[str], list[str]]:
    """(document, header texts of every section, footnote texts) of a DOCX file."""
    document = docx.Document(io.BytesIO(content))
    headers = [p.text for s in document.sections for p in s.header.paragraphs if p.text]
    footnotes: list[str] = []
    for rel in document.part.rels.values():
        if rel.reltype == RT.FOOTNOTES:
            from lxml import etree

            root = etree.fromstring(rel.target_part.blob)
            for note in root.iter(f"{W}footnote"):
                if int(note.get(f"{W}id")) > 0:
                    footnotes.append("".join(t.text or "" for t in note.iter(f"{W}t")).strip())
    return document, headers, footnotes


def _pdf_pages(content: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(content)).pages]


def _ask_into(client: LocalClient, cid: str, question: str, headers: dict[str, str]) -> dict[str, Any]:
    r = client.post("/api/v1/ask", json={"question": question, "conversation_id": cid}, headers=headers)
    assert r.status_code == 200 and not r.json()["abstained"], r.text
    return dict(r.json())


def test_a_saved_conversation_exports_with_footnotes_and_the_highest_marking(index_dir: Path) -> None:
    key = bearer(add_key(index_dir, "reader", "mat", "can-bo-mat"))
    with LocalClient(create_app(settings_for(index_dir))) as client:
        cid = client.post("/api/v1/conversations", json={}, headers=key).json()["id"]
        secret = _ask_into(client, cid, question_for("mat"), key)
        public = _ask_into(client, cid, question_for("cong-khai"), key)

        r = client.post("/api/v1/export", json={"format": "docx", "conversation_id": cid}, headers=key)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("application/vnd.openxmlformats")
        assert re.search(r'attachment; filename="van-kien-hoi-dap-\d{8}-\w+\.docx"', r.headers["content-disposition"])
        document, headers, footnotes = _docx(r.content)
        assert headers == ["MẬT"]  # the mật answer's paragraphs set the marking of the whole file
        text = "\n".join(p.text for p in document.paragraphs)
        assert question_for("mat") in text and question_for("cong-khai") in text
        assert "can-bo-mat" in text  # who exported it
        # one real Word footnote per citation, numbered through the file, each pointing at its paragraph
        citations = secret["citations"] + public["citations"]
        assert len(footnotes) == len(citations) >= 2
        refs = [el.get(f"{W}id") for el in document.element.body.iter(f"{W}footnoteReference")]
        assert refs == [str(n) for n in range(1, len(citations) + 1)]
        for note, cited in zip(footnotes, citations, strict=True):
            assert cited["paragraph_id"] in note and cited["number"] in note
        assert "ngày 05/02/2025" in footnotes[0] and "[Mật]" in footnotes[0]
        assert "ngày 03/02/2025" in footnotes[-1] and "[" not in footnotes[-1].split("đoạn")[-1]
        # no "[n]" of the on-screen answer is left in the text: they became footnote references
        assert not re.search(r"\[\d+\]", text)

        # one turn of it: only the public answer, so the public marking
        r = client.post("/api/v1/export", json={"format": "docx", "conversation_id": cid, "turn": 2}, headers=key)
        _, headers, footnotes = _docx(r.content)
        assert headers == ["CÔNG KHAI"] and len(footnotes) == len(public["citations"])
        assert (
            client.post(
                "/api/v1/export", json={"format": "docx", "conversation_id": cid, "turn": 3}, headers=key
            ).status_code
            == 404
        )

        # the same conversation as PDF: marking on every page, the notes at the foot, the font embedded
        if not _has_font():
            pytest.skip("no Vietnamese TrueType font on this machine (fonts-dejavu-core)")
        r = client.post("/api/v1/export", json={"format": "pdf", "conversation_id": cid}, headers=key)
        assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
        pages = _pdf_pages(r.content)
        assert all(page.lstrip().startswith("MẬT") for page in pages)
        whole = "\n".join(pages)
        assert question_for("mat") in whole.replace("\n", " ")
        for n, cited in enumerate(citations, 1):
            assert f"[{n}] " in whole and cited["paragraph_id"] in whole.replace("\n", "")
        reader = PdfReader(io.BytesIO(r.content))
        fonts = [f.get_object() for page in reader.pages for f in page["/Resources"]["/Font"].values()]
        assert fonts and all("/FontFile2" in f["/DescendantFonts"][0].get_object()["/FontDescriptor"] for f in fonts)


def _has_font() -> bool:
    try:
        find_font()
    except Exception:
        return False
    return True


def test_turns_sent_by_the_caller_are_checked_against_the_library(index_dir: Path) -> None:
    with LocalClient(create_app(settings_for(index_dir))) as client:
        answer = client.post("/api/v1/ask", json={"question": question_for("cong-khai")}).json()
        turn = {
            "question": question_for("cong-khai"),
            "answer": answer["answer"],
            "citations": [{"marker": c["marker"], "paragraph_id": c["paragraph_id"]} for c in answer["citations"]],
        }
        r = client.post("/api/v1/export", json={"format": "docx", "title": "Báo cáo nhanh", "turns": [turn]})
        assert r.status_code == 200, r.text
        document, headers, footnotes = _docx(r.content)
        assert headers == ["CÔNG KHAI"] and document.paragraphs[0].text == "Báo cáo nhanh"
        assert len(footnotes) == len(turn["citations"])

        # citing a paragraph above the caller's clearance answers like a missing one, and nothing leaks
        hidden = {**turn, "citations": [{"marker": 1, "paragraph_id": f"{DOC_IDS['mat']}/p0005"}]}
        missing = {**turn, "citations": [{"marker": 1, "paragraph_id": "nq-99-2099/p0005"}]}
        r_hidden = client.post("/api/v1/export", json={"format": "docx", "turns": [hidden]})
        assert r_hidden.status_code == 404 and CANARIES["mat"] not in r_hidden.text
        assert "Không tìm thấy đoạn" in r_hidden.json()["error"]["message"]
        # a paragraph gone from the library keeps its footnote, with its id, and no marking from the request
        r_missing = client.post("/api/v1/export", json={"format": "docx", "turns": [missing]})
        _, headers, footnotes = _docx(r_missing.content)
        assert headers == ["CÔNG KHAI"] and "nq-99-2099/p0005" in footnotes[0]

        # text no XML or page can hold (control characters, found by schemathesis) is dropped, not a 500
        odd = {"question": "Hỏi\u0011 gì?\r\n", "answer": "Đáp\x00 thế này\r.", "citations": []}
        for fmt in ("docx", "pdf"):
            r_odd = client.post("/api/v1/export", json={"format": fmt, "title": "Tiêu đề\u0007", "turns": [odd]})
            assert r_odd.status_code == 200 or (fmt == "pdf" and not _has_font()), r_odd.text
        odd_doc, _, _ = _docx(client.post("/api/v1/export", json={"format": "docx", "turns": [odd]}).content)
        assert "Hỏi gì?" in [p.text for p in odd_doc.paragraphs]

        # the marking cannot be chosen by the request, and the request must say what to export, once
        assert (
            client.post("/api/v1/export", json={"format": "pdf", "turns": [turn], "marking": "mat"}).status_code == 422
        )
        assert client.post("/api/v1/export", json={"format": "odt", "turns": [turn]}).status_code == 422
        neither = client.post("/api/v1/export", json={"format": "docx"})
        assert neither.status_code == 400 and "conversation_id" in neither.json()["error"]["message"]
        both = client.post("/api/v1/export", json={"format": "docx", "turns": [turn], "conversation_id": "x"})
        assert both.status_code == 400


def test_another_users_conversation_cannot_be_exported(index_dir: Path) -> None:
    alice = bearer(add_key(index_dir, "reader", "toi-mat", "alice"))
    bob = bearer(add_key(index_dir, "reader", "toi-mat", "bob"))
    with LocalClient(create_app(settings_for(index_dir))) as client:
        cid = client.post("/api/v1/conversations", json={}, headers=alice).json()["id"]
        _ask_into(client, cid, question_for("toi-mat"), alice)
        r = client.post("/api/v1/export", json={"format": "docx", "conversation_id": cid}, headers=bob)
        assert r.status_code == 404 and CANARIES["toi-mat"] not in r.text
        assert client.post("/api/v1/export", json={"format": "docx", "conversation_id": cid}).status_code == 401


def test_pdf_without_a_vietnamese_font_says_what_to_do(index_dir: Path, tmp_path: Path) -> None:
    not_a_font = tmp_path / "khong-phai-phong.ttf"
    not_a_font.write_bytes(b"not a font")
    with LocalClient(create_app(settings_for(index_dir, export_font=not_a_font))) as client:
        turn = {"question": "Hỏi gì?", "answer": "Đáp thế này.", "citations": []}
        r = client.post("/api/v1/export", json={"format": "pdf", "turns": [turn]})
        assert r.status_code == 503
        assert "phông chữ" in r.json()["error"]["message"].lower() and "export_font" in r.json()["error"]["message"]
        # DOCX needs no font file of ours
        assert client.post("/api/v1/export", json={"format": "docx", "turns": [turn]}).status_code == 200


def test_docx_is_a_valid_package_with_a_footnotes_part(index_dir: Path) -> None:
    with LocalClient(create_app(settings_for(index_dir))) as client:
        answer = client.post("/api/v1/ask", json={"question": question_for("cong-khai")}).json()
        turn = {
            "question": "Câu hỏi <có> & ký tự đặc biệt",
            "answer": answer["answer"],
            "citations": [{"marker": c["marker"], "paragraph_id": c["paragraph_id"]} for c in answer["citations"]],
        }
        r = client.post("/api/v1/export", json={"format": "docx", "turns": [turn]})
    with zipfile.ZipFile(io.BytesIO(r.content)) as package:
        types = package.read("[Content_Types].xml").decode("utf-8")
        assert "/word/footnotes.xml" in types and "footnotes+xml" in types
        settings = package.read("word/settings.xml").decode("utf-8")
        # CT_Settings is an ordered sequence: Word refuses footnotePr after compat
        assert settings.index("<w:footnotePr") < settings.index("<w:compat")
        if _has_font():
            # the Vietnamese font travels inside the file, obfuscated as Word embeds fonts, and really is one
            assert "<w:embedTrueTypeFonts/>" in settings and "obfuscatedFont" in types
            table = package.read("word/fontTable.xml").decode("utf-8")
            rels = package.read("word/_rels/fontTable.xml.rels").decode("utf-8")
            embeds = re.findall(r'<w:embed(Regular|Bold) r:id="(rId\d+)" w:fontKey="\{([0-9A-F-]+)\}"', table)
            assert {kind for kind, _, _ in embeds} == {"Regular", "Bold"}
            family = re.search(r'<w:font w:name="([^"]+)"><w:embedRegular', table)
            assert family is not None
            for _, rid, key in embeds:
                target = re.search(rf'Id="{rid}"[^>]*Target="([^"]+)"|Target="([^"]+)"[^>]*Id="{rid}"', rels)
                assert target is not None
                name = "word/" + (target.group(1) or target.group(2))
                data = obfuscate(package.read(name), uuid.UUID(key))
                with TTFont(io.BytesIO(data)) as font:
                    assert font["name"].getBestFamilyName() == family.group(1)
                    cmap = font.getBestCmap()
                    assert all(ord(ch) in cmap for ch in "ạặễỵươđ")
            styles = package.read("word/styles.xml").decode("utf-8")
            assert f'w:ascii="{family.group(1)}"' in styles
    document, _, _ = _docx(r.content)
    assert "Câu hỏi <có> & ký tự đặc biệt" in [p.text for p in document.paragraphs]
