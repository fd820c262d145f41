"""`invoicing validate`: an e-invoice judged by the official rules, as a receiver would."""

from __future__ import annotations

import json
from pathlib import Path

import click

from invoicing.cli.common import EXIT_FAILED, EXIT_OK, fail, handle_errors, main, out

_RSM = b"urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
_DECLARES = b"<!DOCTYPE"


@main.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@handle_errors
def validate(file: Path, as_json: bool) -> None:
    """Validate an e-invoice: a hybrid PDF (Factur-X / ZUGFeRD, XRechnung) or its CII XML.

    The XML (extracted from the PDF with pypdf) goes through the EN 16931 XSD and the
    EN 16931 Schematron (Factur-X 1.09.2, run offline by Saxon); a PDF's markers are
    checked too: the embedded file, its /AF entry and the XMP. Prints each violated rule
    with its message, then what was and was not checked (the KoSIT XRechnung rules are
    not: no package ships them). Exit 0 when valid, 1 with violations, 2 for a file that
    is neither a PDF carrying an e-invoice nor a CII XML. An XML with a DOCTYPE or
    entities is refused unread, on one line (exit 1): nothing is fetched or read for it.

    Example: invoicing validate output/2026-10/INV-2026-10-000020.pdf

    Example: invoicing validate factur-x.xml --json
    """
    from invoicing.pdf.einvoice.validate import extract_xml, format_result, validate_pdf, validate_xml

    try:
        data = file.read_bytes()
    except FileNotFoundError:
        fail(f"{file}: no such file")
    except IsADirectoryError:
        fail(f"{file}: is a directory, not a PDF")
    except OSError as exc:
        fail(f"{file}: cannot read: {exc.strerror or exc}")
    if data.lstrip()[:5] == b"%PDF-":
        try:
            extract_xml(data)
        except ValueError as exc:
            fail(f"{file}: not an e-invoice: {exc}")
        result = validate_pdf(data)
    elif data.lstrip()[:1] == b"<" and (_RSM in data[:4096] or _DECLARES in data[:4096]):
        # An XML with a DOCTYPE is refused with its reason, not called "not an e-invoice":
        # its declarations may push the root element past the first 4 kB.
        result = validate_xml(data)
    else:
        fail(f"{file}: not a PDF (nor a CII XML e-invoice)")
    if as_json:
        out.print(
            json.dumps(
                {
                    "file": str(file),
                    "valid": result.ok,
                    "profile": result.profile,
                    "guideline": result.guideline,
                    "embedded_file": result.filename,
                    "rules": result.rules,
                    "violations": [
                        {"rule": v.rule, "message": v.message, "location": v.location}
                        for v in result.violations
                    ],
                    "checked": list(result.checked),
                    "not_checked": list(result.not_checked),
                },
                ensure_ascii=False,
            ),
            markup=False,
        )
    else:
        out.print(format_result(result), markup=False)
    raise SystemExit(EXIT_OK if result.ok else EXIT_FAILED)
