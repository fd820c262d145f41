"""The seller's logo: a PNG or JPEG file, decoded once into image objects for the PDF,
drawn with reportlab's `canvas.drawImage`.

Every invoice of a run has the same logo, so it is decoded and compressed once per
process, and cached by the file's path and version (mtime, size, inode): a replaced
file is read again. A JPEG in
RGB or grey is embedded as it is (DCTDecode); anything else is re-encoded as Flate RGB,
with its alpha channel, if it has a real one, as a soft mask. The object name comes
from a digest of the file, so the same logo gives the same bytes in every invoice.

reportlab's drawImage would read, digest and deflate the image again for every
invoice (1.1 ms for a 600 x 200 PNG logo); `draw_logo` gives the document the objects
made once (glyph_font.Made) under the name drawImage looks for, so that drawImage
finds the image registered and only places it.

A bad logo is the data's fault, not the run's: it raises RenderError.
"""

from __future__ import annotations

import hashlib
import io
import os
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from reportlab.lib.utils import _digester

from invoicing.pdf.errors import RenderError, one_line
from invoicing.pdf.glyph_font import Made
from invoicing.pdf.lru import Lru
from invoicing.pdf.objects import Parts, image_stream

if TYPE_CHECKING:
    from reportlab.pdfbase.pdfdoc import PDFDocument
    from reportlab.pdfgen.canvas import Canvas

__all__ = ["Logo", "draw_logo", "load_logo", "xobject_name"]

_MAX_PX = 1200  # larger logos are scaled down once, when first loaded
_CACHED = 8  # logo file versions kept


@dataclass(frozen=True)
class Logo:
    """A logo file, decoded and compressed once per process (per file version)."""

    name: str  # XObject name, from a digest of the file
    width: int  # pixels, after any scaling down
    height: int
    image: Parts  # the image object; a reference "SMask" if it has an alpha channel
    smask: bytes | None  # complete alpha stream object

    def fit(self, max_width: float, max_height: float) -> tuple[float, float]:
        """(width, height) in points of the largest box of the logo's shape that fits."""
        scale = min(max_width / self.width, max_height / self.height)
        return self.width * scale, self.height * scale


_cache: Lru[tuple[Any, ...], Logo] = Lru(_CACHED)


def load_logo(path: str) -> Logo:
    """The logo in the file at `path`; RenderError if it cannot be read or decoded."""
    try:
        st = os.stat(path)
        key = (path, st.st_mtime_ns, st.st_size, st.st_ino)
        hit = _cache.hit(key)
        if hit is not None:
            return hit
        with open(path, "rb") as fh:
            data = fh.read()
    except (OSError, ValueError, TypeError) as exc:
        reason = getattr(exc, "strerror", None) or one_line(exc)
        raise RenderError(f"cannot read logo file {path!r}: {reason}") from None
    return _cache.keep(key, _decode(path, data))


def _decode(path: str, data: bytes) -> Logo:
    from PIL import Image as PILImage  # reportlab depends on Pillow; imported when a logo is used

    try:
        im = PILImage.open(io.BytesIO(data))
        im.load()
        if im.width <= 0 or im.height <= 0:
            raise ValueError("empty image")
        if max(im.size) > _MAX_PX:
            im.thumbnail((_MAX_PX, _MAX_PX))
        if im.format == "JPEG" and im.mode in ("RGB", "L"):
            space = "DeviceRGB" if im.mode == "RGB" else "DeviceGray"
            body, filt, alpha = data, "DCTDecode", None
        else:
            has_alpha = im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info
            rgba = im.convert("RGBA") if has_alpha else None
            rgb = (rgba or im).convert("RGB")
            space, filt = "DeviceRGB", "FlateDecode"
            body = zlib.compress(rgb.tobytes())
            alpha = rgba.getchannel("A") if rgba is not None else None
            if alpha is not None and alpha.getextrema() == (255, 255):
                alpha = None
    except Exception as exc:  # PIL raises many types for bad data
        reason = f"not a PNG/JPEG image ({one_line(exc)})"
        raise RenderError(f"cannot read logo file {path!r}: {reason}") from None
    w, h = im.size
    smask = None
    if alpha is not None:
        mask = image_stream(w, h, "DeviceGray", "FlateDecode", zlib.compress(alpha.tobytes()), False)
        smask = b"".join(p for p in mask if isinstance(p, bytes))
    digest = hashlib.md5(data, usedforsecurity=False).hexdigest()[:16]
    image = image_stream(w, h, space, filt, body, smask is not None)
    return Logo(f"Logo{digest}", w, h, image, smask)


def draw_logo(canvas: Canvas, logo: Logo, x: float, y: float, width: float, height: float) -> None:
    """Draw `logo` into the box with bottom-left corner (x, y) on the canvas's page."""
    doc = canvas._doc
    registered = xobject_name(doc, logo)
    if registered not in doc.idToObject:
        refs = {}
        if logo.smask is not None:
            refs["SMask"] = f"{registered}.SMask"
            doc.Reference(Made((logo.smask,)), refs["SMask"])
        doc.Reference(_Image(logo, refs), registered)
    canvas.drawImage(logo.name, x, y, width, height)


def xobject_name(doc: PDFDocument, logo: Logo) -> str:
    """The name of the logo's image in `doc`: drawImage's for an image given by name."""
    return doc.getXObjectName(_digester(f"{logo.name}None"))


class _Image(Made):
    """The image object; drawImage reads its size in pixels."""

    def __init__(self, logo: Logo, refs: dict[str, str]) -> None:
        super().__init__(logo.image, refs)
        self.width, self.height = logo.width, logo.height
