"""Fixtures for the index tests: tiny Vietnamese paragraphs and a tiny sentence-transformers model built offline."""

from __future__ import annotations

from pathlib import Path

import pytest

#: Sentences written for these tests (not taken from any document).
TINY_CORPUS = [
    "Nghị quyết về đột phá phát triển khoa học, công nghệ, đổi mới sáng tạo và chuyển đổi số quốc gia.",
    "Thành ủy Hà Nội tổ chức hội nghị quán triệt các nghị quyết của Bộ Chính trị.",
    "Nâng cao chất lượng giáo dục và đào tạo, phát triển nguồn nhân lực chất lượng cao.",
    "Tăng cường công tác bảo vệ, chăm sóc và nâng cao sức khỏe nhân dân.",
    "Đảng ủy các cấp xây dựng kế hoạch thực hiện chương trình hành động.",
    "Cải cách thủ tục hành chính, xây dựng chính quyền số phục vụ người dân và doanh nghiệp.",
]

ST_PACKAGES = ("torch", "sentence_transformers", "transformers", "tokenizers")


@pytest.fixture
def no_download(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make sure downloads are not allowed (the network itself is blocked by tests/conftest.py)."""
    monkeypatch.delenv("VANKIEN_ALLOW_DOWNLOAD", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture
def vi_paragraphs() -> list[str]:
    """Six short Vietnamese paragraphs on different topics (index 5: administrative reform)."""
    return list(TINY_CORPUS)


def build_tiny_st_model(root: Path, folder_name: str = "tiny-e5") -> Path:
    """Build a sentence-transformers model from scratch, offline, and save it under `root / folder_name`.

    A WordPiece tokenizer is trained with `tokenizers` on `TINY_CORPUS`; a BERT with random weights (hidden 32,
    2 layers) is created with `transformers`; a mean-pooling module is added and the whole is saved in the
    sentence-transformers folder layout. The folder name contains "e5" so the e5 prefixes apply.
    """
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertModel, BertTokenizerFast

    try:  # sentence-transformers >= 6 moved the modules; keep older versions working
        from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    except ImportError:  # pragma: no cover - depends on the installed version
        from sentence_transformers.models import Pooling, Transformer
    from sentence_transformers import SentenceTransformer

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=False)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(TINY_CORPUS * 2, trainers.WordPieceTrainer(vocab_size=300, special_tokens=specials))
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    hf_tok = BertTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]",
        mask_token="[MASK]",
    )  # fmt: skip
    config = BertConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    torch.manual_seed(0)
    raw = root / f"{folder_name}-raw"
    BertModel(config).save_pretrained(raw)
    hf_tok.save_pretrained(raw)
    transformer = Transformer(str(raw), max_seq_length=64)
    pooling = Pooling(32, pooling_mode="mean")
    out = root / folder_name
    SentenceTransformer(modules=[transformer, pooling], device="cpu").save(str(out))
    return out


@pytest.fixture(scope="session")
def tiny_st_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder of a tiny random sentence-transformers model named like an e5 model (built once per session)."""
    for name in ST_PACKAGES:  # skips (not errors) when a package is missing or cannot be imported
        pytest.importorskip(
            name, reason=f"{name} is not usable here; needed by the sentence-transformers tests", exc_type=ImportError
        )
    return build_tiny_st_model(tmp_path_factory.mktemp("st"))
