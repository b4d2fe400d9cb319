"""Bulk import of customers, with photos (`smsbank import-customers FILE.csv`).

The CSV has a header row with `name` and `phone`, and optionally `deposit` (an
opening deposit), `photo` (a file name, relative to the photos folder) and `language`
(`en` or `es`: what the bank writes and says to the customer in; English when empty). Each row
is its own all-or-nothing unit: a row whose phone is taken, whose amount is invalid
or whose photo has no usable face is reported and skipped; the rest are imported.
The face engine is started once, in this process, for the whole file.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from smsbank.core.customers import clean_language, create_customer
from smsbank.core.errors import BankError
from smsbank.core.money import InvalidAmount, parse_amount
from smsbank.core.phones import InvalidPhone, normalize_phone
from smsbank.core.settings import Settings
from smsbank.faces.enrolment import create_customer_with_photo
from smsbank.faces.service import FaceService, running_face_service
from smsbank.texts.i18n import DEFAULT_LANGUAGE

REQUIRED = ("name", "phone")
KNOWN = ("name", "phone", "deposit", "photo", "language")


@dataclass(frozen=True)
class ImportRow:
    line: int  # line number in the file, for error reports
    name: str
    phone: str
    deposit: str
    photo: Path | None
    language: str = ""


@dataclass
class ImportSummary:
    imported: int = 0
    failed: int = 0


def read_rows(csv_file: str | Path, photos_dir: str | Path | None = None) -> list[ImportRow]:
    """Parse the whole file first, so a malformed header stops before anything is written."""
    path = Path(csv_file)
    base = Path(photos_dir) if photos_dir is not None else path.parent
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        header = [(h or "").strip().lower() for h in (reader.fieldnames or [])]
        missing = [column for column in REQUIRED if column not in header]
        if missing:
            raise ValueError(
                f"{path.name}: the header must have columns {', '.join(REQUIRED)} "
                f"(optional: deposit, photo, language); missing {', '.join(missing)}"
            )
        unknown = [h for h in header if h and h not in KNOWN]
        if unknown:
            raise ValueError(f"{path.name}: unknown column(s) {', '.join(unknown)}")
        rows = []
        for raw in reader:
            values = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
            if not any(values.values()):
                continue  # blank line
            photo = values.get("photo", "")
            rows.append(
                ImportRow(
                    line=reader.line_num,
                    name=values.get("name", ""),
                    phone=values.get("phone", ""),
                    deposit=values.get("deposit", ""),
                    photo=base / photo if photo else None,
                    language=values.get("language", ""),
                )
            )
    return rows


async def import_rows(
    settings: Settings,
    rows: list[ImportRow],
    progress: Callable[[ImportRow, str | None], None],
) -> ImportSummary:
    """Import each row; `progress(row, error_or_None)` is called once per row."""
    summary = ImportSummary()
    async with AsyncExitStack() as stack:
        faces: FaceService | None = None
        if any(row.photo is not None for row in rows):
            faces = await stack.enter_async_context(running_face_service(settings))
        for row in rows:
            try:
                await _import_one(settings, row, faces)
            except (BankError, InvalidPhone, InvalidAmount, OSError) as exc:
                summary.failed += 1
                progress(row, _describe(exc))
            else:
                summary.imported += 1
                progress(row, None)
    return summary


async def _import_one(settings: Settings, row: ImportRow, faces: FaceService | None) -> None:
    phone = normalize_phone(row.phone, settings.default_region)
    deposit: Decimal | None = parse_amount(row.deposit) if row.deposit else None
    language = clean_language(row.language or DEFAULT_LANGUAGE)
    if row.photo is None:
        await create_customer(
            row.name,
            phone,
            currency=settings.currency,
            initial_deposit=deposit,
            language=language,
            actor="import",
        )
        return
    photo = row.photo.read_bytes()
    await create_customer_with_photo(
        settings,
        name=row.name,
        phone=phone,
        photo=photo,
        initial_deposit=deposit,
        actor="import",
        faces=faces,
        language=language,
    )


def _describe(error: Exception) -> str:
    if isinstance(error, BankError):
        return error.message
    if isinstance(error, OSError):
        return f"cannot read the photo: {error.strerror or error}"
    return str(error)
