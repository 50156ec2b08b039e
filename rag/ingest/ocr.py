"""Optical character recognition of page images with tesseract's Vietnamese model.

OCR is optional: it needs the `tesseract` program with the Vietnamese model (Debian packages
`tesseract-ocr` and `tesseract-ocr-vie`) and the Python packages `pytesseract` and `Pillow`
(`pip install vankien[ocr]`). `ocr_available` says whether all of them are present; nothing here
imports them before it is asked to.
"""

from __future__ import annotations

import logging
import shutil
import unicodedata
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from rag.errors import MissingDependency

if TYPE_CHECKING:
    from PIL.Image import Image

logger = logging.getLogger(__name__)

#: Tesseract language model used for every page.
OCR_LANGUAGE = "vie"
#: Longest time tesseract may spend on one image (seconds).
OCR_IMAGE_TIMEOUT_S = 120.0
#: Images scanned below this resolution are enlarged first: tesseract reads small glyphs poorly.
MIN_DPI = 200
#: Resolution images are enlarged to when they are below `MIN_DPI`.
TARGET_DPI = 300
#: Never enlarge an image beyond this many pixels (memory and time).
MAX_PIXELS = 60_000_000
#: Images smaller than this on either side are logos, stamps or rules, not pages of text.
MIN_SIDE_PX = 32

INSTALL_HINT = "apt-get install tesseract-ocr tesseract-ocr-vie; pip install pytesseract Pillow"


@lru_cache(maxsize=1)
def ocr_unavailable_reason() -> str | None:
    """Why OCR cannot run here, in plain English, or None when it can.

    The answer is computed once per process (it runs `tesseract --list-langs`).
    """
    try:
        import PIL  # noqa: F401
        import pytesseract
    except ImportError as exc:
        return f"the Python package {exc.name or 'pytesseract/Pillow'} is not installed"
    binary = shutil.which("tesseract")
    if binary is None:
        return "the tesseract program is not installed"
    try:
        languages = pytesseract.get_languages(config="")
    except Exception as exc:  # a broken tesseract install: report it, do not crash ingestion
        return f"tesseract does not run ({exc!r})"
    if OCR_LANGUAGE not in languages:
        return f"tesseract has no {OCR_LANGUAGE!r} (Vietnamese) model"
    logger.debug("OCR available: %s with %s", binary, OCR_LANGUAGE)
    return None


def ocr_available() -> bool:
    """True when tesseract, its Vietnamese model, pytesseract and Pillow are all installed."""
    return ocr_unavailable_reason() is None


def _prepare(image: Image, dpi: float | None) -> tuple[Image, int | None]:
    """Grey levels, enlarged when the scan resolution is low; returns the image and its resolution."""
    from PIL import Image as PILImage

    if image.mode not in ("1", "L"):
        if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
            # Transparent areas are paper: flatten on white before dropping colour.
            rgba = image.convert("RGBA")
            background = PILImage.new("RGBA", rgba.size, (255, 255, 255, 255))
            image = PILImage.alpha_composite(background, rgba)
        image = image.convert("L")
    if dpi is None or dpi <= 0:
        return image, None
    if dpi < MIN_DPI:
        scale = TARGET_DPI / dpi
        width, height = round(image.width * scale), round(image.height * scale)
        if width * height <= MAX_PIXELS:
            if image.mode == "1":
                image = image.convert("L")
            image = image.resize((width, height), PILImage.Resampling.LANCZOS)
            dpi = TARGET_DPI
    return image, round(dpi)


def ocr_image(image: Image, *, dpi: float | None = None, timeout_s: float = OCR_IMAGE_TIMEOUT_S) -> list[str]:
    """Read the text of an image with tesseract's Vietnamese model.

    Args:
        image: a Pillow image of (part of) a page, upright.
        dpi: the scan resolution when known; low-resolution images are enlarged first.
        timeout_s: tesseract is stopped after this many seconds.

    Returns:
        The non-empty text lines, NFC, spaces collapsed. Empty for images too small to hold text.

    Raises:
        MissingDependency: when OCR is not installed (see `ocr_available`).
        RuntimeError: when tesseract fails or times out on this image.
    """
    reason = ocr_unavailable_reason()
    if reason is not None:
        raise MissingDependency(
            f"OCR is not available: {reason} ({INSTALL_HINT})",
            "Máy chưa cài OCR (tesseract-ocr, tesseract-ocr-vie) để đọc bản quét.",
        )
    import pytesseract

    if image.width < MIN_SIDE_PX or image.height < MIN_SIDE_PX:
        return []
    prepared, resolution = _prepare(image, dpi)
    config = "--psm 3"
    if resolution:
        config += f" --dpi {resolution}"
    try:
        text: Any = pytesseract.image_to_string(prepared, lang=OCR_LANGUAGE, config=config, timeout=timeout_s)
    except pytesseract.TesseractError as exc:
        raise RuntimeError(f"tesseract failed: {exc}") from exc
    lines: list[str] = []
    for line in unicodedata.normalize("NFC", str(text)).splitlines():
        line = " ".join(line.split())
        if line:
            lines.append(line)
    return lines
