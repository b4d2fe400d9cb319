"""(Developers) keep the message catalogs in step with the code: `smsbank extract-messages`.

Babel reads every msgid the code marks (`smsbank.texts.i18n.EXTRACT_KEYWORDS`) into
`smsbank/texts/locale/messages.pot`, then merges it into each language's `.po`: a new msgid
arrives untranslated, a changed one arrives fuzzy (Babel's guess, which the catalog
ignores until a translator confirms it), and one the code no longer has is dropped.
tests/test_i18n.py fails until every msgid has a translation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from smsbank.texts.i18n import (
    DOMAIN,
    EXTRACT_KEYWORDS,
    LANGUAGES,
    LOCALE_DIR,
    SOURCE_LANGUAGE,
    po_path,
)

PROJECT = Path(__file__).resolve().parents[2]
SOURCES = ("smsbank", "webhooks", "capture_page")
POT_PATH = LOCALE_DIR / f"{DOMAIN}.pot"
HEADER = "Every text SMS Bank sends or says. Extracted by `smsbank extract-messages`."


# Pages' templates (Jinja) mark their words with `_("...")`.
TEMPLATES = ("**/templates/**.html", "jinja2.ext:babel_extract")
TEMPLATE_KEYWORDS: dict[str, Any] = {"_": None}


def extract() -> Catalog:
    """Every marked msgid in the code and the pages' templates, as a template catalog."""
    template = Catalog(project="SMS Bank", domain=DOMAIN, header_comment=f"# {HEADER}")
    for source in SOURCES:
        for method, keywords in (
            (("**.py", "python"), EXTRACT_KEYWORDS),
            (TEMPLATES, TEMPLATE_KEYWORDS),
        ):
            for filename, lineno, message, comments, context in extract_from_dir(
                PROJECT / source,
                method_map=[method],
                keywords=keywords,
                comment_tags=("Translators:",),
                strip_comment_tags=True,
            ):
                where = (f"{source}/{filename}", lineno)
                template.add(message, None, [where], auto_comments=comments, context=context)
    return template


def write_catalogs() -> list[Path]:
    """Write the template and merge it into every translation; the files written."""
    template = extract()
    written = [_write(POT_PATH, template, omit_header=False)]
    for language in LANGUAGES:
        if language == SOURCE_LANGUAGE:
            continue
        path = po_path(language)
        if path.exists():
            with path.open("rb") as handle:
                catalog = read_po(handle, locale=language, domain=DOMAIN)
        else:
            catalog = Catalog(locale=language, domain=DOMAIN, project="SMS Bank")
        catalog.update(template, update_header_comment=False)
        written.append(_write(path, catalog, omit_header=False))
    return written


def _write(path: Path, catalog: Catalog, *, omit_header: bool) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        # No line numbers: they would make every edit of the code a catalog change.
        write_po(
            handle,
            catalog,
            omit_header=omit_header,
            sort_output=True,
            include_lineno=False,
            ignore_obsolete=True,
            width=90,
        )
    return path
