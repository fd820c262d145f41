"""XML from outside, read without DTDs, entities, network or file access: the one way
the project parses XML.

An e-invoice one receives is hostile until read: a DOCTYPE can declare an external
(parameter) entity that makes a parser fetch a DTD from any URL and send it the
contents of a local file (XXE), or nest internal entities into billions of characters
("billion laughs"). Configuring one parser safely is not enough: every parser that sees
the bytes must be, and Saxon (the Schematron) resolves external entities by default.
So the rule is enforced before any parser builds anything:

1. A gate refuses, with one line, any DOCTYPE, entity declaration or external entity,
   and any entity reference other than the five XML predefines (``&amp; &lt; &gt;
   &quot; &apos;``) and character references. CII, XRechnung and XMP need none of them.
2. Only then lxml parses, itself configured to resolve nothing and load nothing.
3. Whatever parses the document after that (Saxon) gets it re-serialised from the lxml
   tree (`serialise`), never the bytes as received.

The gate is the standard library's expat with four handlers, not a package:
defusedxml does the same with expat (its `forbid_dtd`) but builds a throw-away
ElementTree to do it and has deprecated its lxml module, the one this project would
need; expat streams, stops at the DOCTYPE before reading a single declaration, and
fetches nothing by itself (it only reports external entities to a handler, here one
that refuses).
"""

from __future__ import annotations

import re
from typing import Any, NoReturn
from xml.parsers import expat

from lxml import etree

__all__ = ["UnsafeXML", "XMLError", "parse", "serialise"]

_PREDEFINED = "&amp; &lt; &gt; &quot; &apos;"
_HUGE_HINT = re.compile(r",? *(use|try) XML_PARSE_HUGE( option)?")

# Belt and braces behind the gate: nothing to resolve, nothing to load, no network, the
# default depth and size limits (no huge_tree).
_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False, huge_tree=False
)


class XMLError(ValueError):
    """XML that is not read: malformed, or refused (`UnsafeXML`). One line."""


class UnsafeXML(XMLError):
    """A DOCTYPE, an entity declaration or a reference to an undeclared entity: refused
    before any parser resolved or fetched anything."""


def _refuse(what: str, parser: Any) -> NoReturn:
    raise UnsafeXML(
        f"refused: the XML {what} (line {parser.CurrentLineNumber}); DTDs and entities "
        "are never read, an e-invoice needs none"
    )


def _gate(data: bytes) -> None:
    """Refuse a DOCTYPE and every entity before anything else parses `data`."""
    parser = expat.ParserCreate()
    # Parameter entities are never expanded, even were a DOCTYPE to get through.
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)

    # The names the document gives are not repeated: they are its author's text.
    def doctype(*_: Any) -> None:
        _refuse("declares a DOCTYPE", parser)

    def entity(*_: Any) -> None:
        _refuse("declares an entity", parser)

    def external(*_: Any) -> int:
        _refuse("refers to an external entity", parser)

    parser.StartDoctypeDeclHandler = doctype
    parser.EntityDeclHandler = entity
    parser.UnparsedEntityDeclHandler = entity
    parser.ExternalEntityRefHandler = external
    try:
        parser.Parse(data, True)
    except XMLError:
        raise  # a handler's refusal (a ValueError too, so before the clause below)
    except expat.ExpatError as exc:
        where = f"line {exc.lineno}, column {exc.offset + 1}"
        if exc.code == expat.errors.codes[expat.errors.XML_ERROR_UNDEFINED_ENTITY]:
            raise UnsafeXML(
                f"refused: the XML refers to an entity ({where}); only {_PREDEFINED} and "
                "character references are read"
            ) from None
        raise XMLError(f"not well-formed XML: {expat.errors.messages[exc.code]} ({where})") from None
    except (ValueError, LookupError):
        # expat reads UTF-8, UTF-16, ASCII and Latin-1; a declared multi-byte or unknown
        # encoding (UTF-7, UTF-32, Shift_JIS, EBCDIC) is refused by the standard library
        # with a bare ValueError or LookupError. An e-invoice is UTF-8 (EN 16931).
        raise XMLError(
            "not read: the XML declares an encoding other than UTF-8, UTF-16, ASCII or Latin-1"
        ) from None


def parse(data: bytes, *, base_url: str | None = None) -> etree._Element:
    """The root of `data`, parsed by lxml once the gate let it through.

    Raises `UnsafeXML` for a DOCTYPE or an entity, `XMLError` for anything else that is
    not well-formed; both one line. `base_url` only names the document (for a schema's
    relative imports); it is not read.
    """
    _gate(data)
    try:
        return etree.fromstring(data, _PARSER, base_url=base_url)
    except etree.XMLSyntaxError as exc:
        # libxml2's limits (depth 256, a 10 MB text node) name a parser option the user
        # cannot set, and one of them ends in a line break: one line, in the user's terms.
        reason = " ".join(_HUGE_HINT.sub("", exc.msg or "").split()).rstrip(",")
        line, column = exc.position
        raise XMLError(f"not well-formed XML: {reason} (line {line}, column {column})") from None


def serialise(root: etree._Element) -> str:
    """The document as text for another parser (Saxon): the tree's content, without the
    prolog as received (no DOCTYPE could be in it anyway)."""
    return str(etree.tostring(root, encoding="unicode"))
