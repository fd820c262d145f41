"""reportlab's invoice PDF -> hybrid PDF/A-3b carrying the e-invoice XML.

What is added
    * the XML as an embedded file (factur-x.xml, or xrechnung.xml) in the
      /EmbeddedFiles name tree and as the document's associated file (/AF on the
      catalog) with /AFRelationship /Alternative, MIME type text/xml, size, MD5 and
      modification date;
    * XMP metadata (uncompressed, as PDF/A wants it readable): pdfaid part 3,
      conformance B; title, author, subject, producer, creator tool and dates equal to
      the document information dictionary; the Factur-X extension schema and its
      fx:DocumentType, DocumentFileName, Version, ConformanceLevel;
    * an sRGB OutputIntent (GTS_PDFA1) with the bundled ICC profile (``color/``), which
      makes the DeviceRGB/DeviceGray the renderer paints with device-independent;
    * /Version /1.7 on the catalog: PDF/A-3 is built on PDF 1.7, and the catalog entry
      is how an update raises reportlab's %PDF-1.3 header;
    * a new information dictionary mirroring the XMP (reportlab's empty /Keywords and
      /Trapped are dropped, so there is nothing left to disagree), and the trailer /ID:
      the renderer's first element kept, the second a digest of the update.

How: an incremental update
    The renderer's bytes are kept as they are and the new and changed objects
    (catalog, info, pages that carry an empty /Trans, which PDF/A validators do not
    know) are appended with their own cross-reference section, as ISO 32000 allows
    and PDF/A permits. That takes about 0.2 ms, where rewriting the file with pikepdf
    takes 1 ms and with pypdf 5 ms, and it leaves every renderer object byte for byte
    where it was: the merge's pre-linker still finds the seeded font objects
    identical across invoices. pikepdf (qpdf) only *reads* the input: the catalog, the
    info dictionary, the trailer, the pages and their fonts.

What the input must be (checked, else PdfAError)
    A classic cross-reference table (reportlab writes one), no encryption, no
    metadata, output intents, associated files, name tree or /Version of its own, and every
    font embedded (FontFile, FontFile2 or FontFile3): reportlab embeds its TrueType
    subsets, and a standard-14 font (Helvetica...) would make the file fail PDF/A.

Deterministic: no clock (dates are the invoice's issue date at 00:00 UTC, as the
renderer's), no random IDs; the same PDF and XML give the same bytes.
"""

from __future__ import annotations

import hashlib
import io
import re
import zlib
from datetime import date
from functools import lru_cache
from pathlib import Path

import pikepdf

from invoicing.pdf.einvoice.profiles import EInvoice
from invoicing.pdf.errors import RenderError

__all__ = ["ICC_PROFILE", "PdfAError", "make_hybrid"]

ICC_PROFILE = Path(__file__).resolve().parent / "color" / "sRGB.icc"
OUTPUT_CONDITION = "sRGB IEC61966-2.1"
FX_NAMESPACE = "urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#"
FX_VERSION = "1.0"  # of the Factur-X XMP schema; ZUGFeRD 2.x uses the same


class PdfAError(RenderError):
    """The rendered PDF cannot be turned into PDF/A-3 (a renderer bug, not bad data)."""


@lru_cache(maxsize=1)
def _icc_stream() -> bytes:
    data = ICC_PROFILE.read_bytes()
    packed = zlib.compress(data, 9)
    return b"<< /N 3 /Filter /FlateDecode /Length %d >>\nstream\n%s\nendstream" % (len(packed), packed)


# ---------------------------------------------------------------------- syntax


_PRINTABLE = re.compile("[ -~]*")


def _pdf_string(text: str) -> bytes:
    """A PDF text string: literal if printable ASCII, else UTF-16BE with a BOM."""
    if _PRINTABLE.fullmatch(text):
        return (
            b"("
            + text.encode("ascii").replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")
            + b")"
        )
    return b"<FEFF" + text.encode("utf-16-be").hex().upper().encode("ascii") + b">"


def _pdf_date(day: date) -> bytes:
    return f"(D:{day:%Y%m%d}000000+00'00')".encode("ascii")


def _stream(entries: bytes, data: bytes) -> bytes:
    return b"<< %s /Length %d >>\nstream\n%s\nendstream" % (entries, len(data), data)


_XML_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"})
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_text(text: str) -> str:
    return _NOT_XML.sub("", text).translate(_XML_ESCAPES)


_FX_PROPERTIES = (
    ("DocumentFileName", "The name of the embedded XML document"),
    ("DocumentType", "The type of the hybrid document in capital letters, e.g. INVOICE or ORDER"),
    ("Version", "The actual version of the standard applying to the embedded XML document"),
    ("ConformanceLevel", "The conformance level of the embedded XML document"),
)


def _xmp(info: dict[str, str], moment: str, filename: str, level: str) -> bytes:
    def alt(tag: str, value: str) -> str:
        return f'<{tag}><rdf:Alt><rdf:li xml:lang="x-default">{_xml_text(value)}</rdf:li></rdf:Alt></{tag}>'

    dc = ["<dc:format>application/pdf</dc:format>"]
    if info.get("Title"):
        dc.append(alt("dc:title", info["Title"]))
    if info.get("Author"):
        dc.append(f"<dc:creator><rdf:Seq><rdf:li>{_xml_text(info['Author'])}</rdf:li></rdf:Seq></dc:creator>")
    if info.get("Subject"):
        dc.append(alt("dc:description", info["Subject"]))
    properties = "".join(
        '<rdf:li rdf:parseType="Resource">'
        f"<pdfaProperty:name>{name}</pdfaProperty:name><pdfaProperty:valueType>Text</pdfaProperty:valueType>"
        f"<pdfaProperty:category>external</pdfaProperty:category>"
        f"<pdfaProperty:description>{description}</pdfaProperty:description></rdf:li>"
        for name, description in _FX_PROPERTIES
    )
    text = (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
        '<rdf:Description rdf:about="" xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/">'
        "<pdfaid:part>3</pdfaid:part><pdfaid:conformance>B</pdfaid:conformance></rdf:Description>\n"
        f'<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">{"".join(dc)}</rdf:Description>\n'
        '<rdf:Description rdf:about="" xmlns:pdf="http://ns.adobe.com/pdf/1.3/">'
        f"<pdf:Producer>{_xml_text(info['Producer'])}</pdf:Producer></rdf:Description>\n"
        '<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/">'
        f"<xmp:CreatorTool>{_xml_text(info['Creator'])}</xmp:CreatorTool>"
        f"<xmp:CreateDate>{moment}</xmp:CreateDate><xmp:ModifyDate>{moment}</xmp:ModifyDate>"
        f"<xmp:MetadataDate>{moment}</xmp:MetadataDate></rdf:Description>\n"
        f'<rdf:Description rdf:about="" xmlns:fx="{FX_NAMESPACE}">'
        f"<fx:DocumentType>INVOICE</fx:DocumentType><fx:DocumentFileName>{filename}</fx:DocumentFileName>"
        f"<fx:Version>{FX_VERSION}</fx:Version><fx:ConformanceLevel>{level}</fx:ConformanceLevel>"
        "</rdf:Description>\n"
        '<rdf:Description rdf:about="" xmlns:pdfaExtension="http://www.aiim.org/pdfa/ns/extension/" '
        'xmlns:pdfaSchema="http://www.aiim.org/pdfa/ns/schema#" '
        'xmlns:pdfaProperty="http://www.aiim.org/pdfa/ns/property#">'
        '<pdfaExtension:schemas><rdf:Bag><rdf:li rdf:parseType="Resource">'
        "<pdfaSchema:schema>Factur-X PDFA Extension Schema</pdfaSchema:schema>"
        f"<pdfaSchema:namespaceURI>{FX_NAMESPACE}</pdfaSchema:namespaceURI>"
        "<pdfaSchema:prefix>fx</pdfaSchema:prefix>"
        f"<pdfaSchema:property><rdf:Seq>{properties}</rdf:Seq></pdfaSchema:property>"
        "</rdf:li></rdf:Bag></pdfaExtension:schemas></rdf:Description>\n"
        "</rdf:RDF>\n</x:xmpmeta>\n"
        '<?xpacket end="w"?>'
    )
    return text.encode("utf-8")


# ---------------------------------------------------------------------- input

_STARTXREF = re.compile(rb"startxref\s+(\d+)\s+%%EOF\s*$")
_FONT_FILES = ("/FontFile", "/FontFile2", "/FontFile3")


def _check_fonts(resources: pikepdf.Object | None, seen: set[tuple[int, int]], where: str) -> None:
    """Every font used by the pages (and their forms) has its program embedded."""
    if not isinstance(resources, pikepdf.Dictionary):
        return
    fonts = resources.get("/Font")
    for name, font in fonts.items() if isinstance(fonts, pikepdf.Dictionary) else ():
        if font.is_indirect and font.objgen in seen:
            continue
        if font.is_indirect:
            seen.add(font.objgen)
        if font.get("/Subtype") == "/Type3":  # glyphs are content streams: nothing to embed
            continue
        described = font
        if font.get("/Subtype") == "/Type0":
            described = font.DescendantFonts[0]
        descriptor = described.get("/FontDescriptor")
        if not isinstance(descriptor, pikepdf.Dictionary) or not any(k in descriptor for k in _FONT_FILES):
            raise PdfAError(
                f"font {name} ({font.get('/BaseFont')}) on {where} is not embedded, "
                "and PDF/A needs every font embedded"
            )
    xobjects = resources.get("/XObject")
    for _, xobject in xobjects.items() if isinstance(xobjects, pikepdf.Dictionary) else ():
        if xobject.get("/Subtype") == "/Form" and not (xobject.is_indirect and xobject.objgen in seen):
            if xobject.is_indirect:
                seen.add(xobject.objgen)
            _check_fonts(xobject.get("/Resources"), seen, where)


class _Input:
    """What the update needs to know about the rendered file."""

    def __init__(self, pdf: bytes):
        if not pdf.startswith(b"%PDF-"):
            raise PdfAError("not a PDF (no %PDF- header)")
        tail = _STARTXREF.search(pdf, max(0, len(pdf) - 1024))
        if tail is None:
            raise PdfAError("no startxref at the end of the PDF")
        self.prev = int(tail[1])
        if pdf[self.prev : self.prev + 4] != b"xref":
            raise PdfAError("the PDF has a cross-reference stream; only classic tables are supported")
        try:
            doc = pikepdf.open(io.BytesIO(pdf))
        except pikepdf.PdfError as exc:
            raise PdfAError(f"cannot read the rendered PDF: {exc}") from None
        with doc:
            if doc.is_encrypted:
                raise PdfAError("an encrypted PDF cannot be PDF/A")
            trailer, root = doc.trailer, doc.Root
            for key in ("/Metadata", "/OutputIntents", "/AF", "/Names", "/Version"):
                if key in root:
                    raise PdfAError(f"the rendered PDF already has a catalog {key}: not supported")
            self.size = int(trailer.Size)
            self.root = root.objgen
            catalog = root.unparse(resolved=True)
            if not catalog.endswith(b">>"):
                raise PdfAError("unexpected catalog syntax")
            self.catalog = catalog[:-2].rstrip()
            info = trailer.get("/Info")
            self.info_ref = info.objgen if info is not None and info.is_indirect else None
            self.info = {
                key: str(info.get(f"/{key}", "")) if info is not None else ""
                for key in ("Title", "Author", "Subject", "Creator", "Producer")
            }
            first_id = trailer.get("/ID")
            self.first_id = (
                bytes(first_id[0]) if isinstance(first_id, pikepdf.Array) and len(first_id) else b""
            )
            self.pages: list[tuple[tuple[int, int], bytes]] = []
            seen: set[tuple[int, int]] = set()
            for number, page in enumerate(doc.pages, 1):
                obj = page.obj
                _check_fonts(obj.get("/Resources"), seen, f"page {number}")
                trans = obj.get("/Trans")
                if isinstance(trans, pikepdf.Dictionary) and not trans.keys():
                    del obj["/Trans"]  # reportlab's empty transition: the default anyway
                    self.pages.append((obj.objgen, obj.unparse(resolved=True)))


# ---------------------------------------------------------------------- output


def make_hybrid(pdf: bytes, einvoice: EInvoice) -> bytes:
    """``pdf`` (reportlab's rendering) + ``einvoice`` -> hybrid PDF/A-3b bytes."""
    src = _Input(pdf)
    xml = einvoice.xml
    day = einvoice.issue_date
    moment = f"{day:%Y-%m-%d}T00:00:00+00:00"
    filename = einvoice.filename.encode("ascii")
    info = dict(src.info)
    info["Creator"] = info["Creator"] or "invoicing"
    info["Producer"] = info["Producer"] or "invoicing"

    num = src.size
    icc, metadata, embedded, filespec = num, num + 1, num + 2, num + 3
    info_ref = src.info_ref or (num + 4, 0)  # the renderer's info object is replaced
    size = num + (4 if src.info_ref else 5)

    packed = zlib.compress(xml)
    description = f"{einvoice.profile.name} invoice, EN 16931 CII XML".encode("ascii")
    objects: list[tuple[int, int, bytes]] = [
        (icc, 0, _icc_stream()),
        (
            metadata,
            0,
            _stream(
                b"/Type /Metadata /Subtype /XML",
                _xmp(info, moment, einvoice.filename, einvoice.profile.conformance),
            ),
        ),
        (
            embedded,
            0,
            _stream(
                b"/Type /EmbeddedFile /Subtype /text#2Fxml /Filter /FlateDecode"
                b" /Params << /Size %d /ModDate %s /CheckSum <%s> >>"
                % (
                    len(xml),
                    _pdf_date(day),
                    hashlib.md5(xml, usedforsecurity=False).hexdigest().upper().encode(),
                ),
                packed,
            ),
        ),
        (
            filespec,
            0,
            b"<< /Type /Filespec /F (%s) /UF (%s) /Desc (%s) /AFRelationship /Alternative "
            b"/EF << /F %d 0 R /UF %d 0 R >> >>" % (filename, filename, description, embedded, embedded),
        ),
        (
            *info_ref,
            b"<< "
            + b" ".join(
                b"/%s %s" % (key.encode(), _pdf_string(value)) for key, value in info.items() if value
            )
            + b" /CreationDate %s /ModDate %s >>" % (_pdf_date(day), _pdf_date(day)),
        ),
        (
            src.root[0],
            src.root[1],
            src.catalog + b" /Metadata %d 0 R /OutputIntents [ << /Type /OutputIntent /S /GTS_PDFA1"
            b" /OutputConditionIdentifier (%s) /Info (%s) /RegistryName (http://www.color.org)"
            b" /DestOutputProfile %d 0 R >> ] /Names << /EmbeddedFiles << /Names [ (%s) %d 0 R ] >> >>"
            b" /AF [ %d 0 R ] /Version /1.7 >>"
            % (
                metadata,
                OUTPUT_CONDITION.encode(),
                OUTPUT_CONDITION.encode(),
                icc,
                filename,
                filespec,
                filespec,
            ),
        ),
    ]
    objects += [(objgen[0], objgen[1], body) for objgen, body in src.pages]
    return _append_update(pdf, src, objects, size, info_ref)


def _append_update(
    pdf: bytes, src: _Input, objects: list[tuple[int, int, bytes]], size: int, info: tuple[int, int]
) -> bytes:
    out = io.BytesIO()
    out.write(pdf)
    if not pdf.endswith(b"\n"):
        out.write(b"\n")
    offsets: dict[int, tuple[int, int]] = {}
    for number, generation, body in objects:
        offsets[number] = (out.tell(), generation)
        out.write(b"%d %d obj\n%s\nendobj\n" % (number, generation, body))
    update = out.getbuffer()[len(pdf) :]
    second_id = hashlib.md5(src.first_id + update, usedforsecurity=False).hexdigest().upper().encode()
    update.release()
    first_id = src.first_id.hex().upper().encode() if src.first_id else second_id
    xref = out.tell()
    out.write(b"xref\n")
    numbers = sorted(offsets)
    start = 0
    while start < len(numbers):  # one subsection per run of consecutive object numbers
        end = start
        while end + 1 < len(numbers) and numbers[end + 1] == numbers[end] + 1:
            end += 1
        out.write(b"%d %d\n" % (numbers[start], end - start + 1))
        for number in numbers[start : end + 1]:
            offset, generation = offsets[number]
            out.write(b"%010d %05d n\r\n" % (offset, generation))
        start = end + 1
    out.write(
        b"trailer\n<< /Size %d /Root %d %d R /Info %d %d R /Prev %d /ID [ <%s> <%s> ] >>\n"
        b"startxref\n%d\n%%%%EOF\n" % (size, *src.root, *info, src.prev, first_id, second_id, xref)
    )
    return out.getvalue()
