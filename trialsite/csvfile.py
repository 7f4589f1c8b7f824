"""CSV input of the offline commands (``manage.py endpoints``, ``manage.py pk``): every message names the file,
the data row (1-based, header not counted), its line and the column; the whole file is read and checked before a
command computes anything."""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from django.core.management.base import CommandError

ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class Row:
    number: int  # 1-based data row (the header is not counted, blank lines are skipped)
    line: int  # line of the file where the row ends (1 = the header)
    values: dict[str, str]


class CsvFile:
    def __init__(self, option: str, text: str, required: Sequence[str]):
        self.option = option
        self.path = Path(text)
        self.rows = self._read(required)

    def where(self, row: Row, column: str | None = None) -> str:
        place = f"{self.path}, row {row.number} (line {row.line})"
        return f"{place}, column {column!r}" if column else place

    def error(self, row: Row, column: str, problem: str) -> CommandError:
        return CommandError(f"{self.where(row, column)}: {problem}")

    def _read(self, required: Sequence[str]) -> list[Row]:
        try:
            with self.path.open(newline="", encoding="utf-8-sig") as handle:
                reader = csv.reader(handle)
                header = next(reader, None)
                if header is None:
                    raise CommandError(f"{self.option} {self.path}: the file is empty (no header row)")
                names = [name.strip() for name in header]
                doubled = sorted({name for name in names if names.count(name) > 1})
                if doubled:
                    raise CommandError(f"{self.path}, line 1: column {doubled[0]!r} appears more than once")
                missing = [column for column in required if column not in names]
                if missing:
                    raise CommandError(
                        f"{self.path}, line 1: no column {missing[0]!r} (the header has: {', '.join(names)})"
                    )
                rows = []
                for fields in reader:
                    if not fields:
                        continue  # a blank line
                    row = Row(len(rows) + 1, reader.line_num, {})
                    if len(fields) != len(names):
                        raise CommandError(
                            f"{self.where(row)}: {len(fields)} fields but the header has {len(names)}"
                        )
                    rows.append(Row(row.number, row.line, dict(zip(names, fields, strict=True))))
        except FileNotFoundError:
            raise CommandError(f"{self.option} {self.path}: no such file") from None
        except IsADirectoryError:
            raise CommandError(f"{self.option} {self.path}: is a directory, not a CSV file") from None
        except PermissionError:
            raise CommandError(f"{self.option} {self.path}: permission denied") from None
        except UnicodeDecodeError as exc:
            problem = f"not UTF-8 text ({exc.reason} at byte {exc.start})"
            raise CommandError(f"{self.option} {self.path}: {problem}") from None
        except csv.Error as exc:
            raise CommandError(f"{self.path}: not a readable CSV file ({exc})") from None
        if not rows:
            raise CommandError(f"{self.option} {self.path}: no data rows after the header")
        return rows

    def text(self, row: Row, column: str) -> str:
        value = row.values[column].strip()
        if not value:
            raise self.error(row, column, "empty")
        return value

    def time(self, row: Row, column: str) -> float:
        value = self.text(row, column)
        try:
            number = float(value)
        except ValueError:
            raise self.error(row, column, f"{value!r} is not a number") from None
        if not math.isfinite(number):
            raise self.error(row, column, f"{value!r} is not a finite number")
        if number < 0:
            raise self.error(row, column, f"{value!r} is negative (a time from the origin is 0 or more)")
        return number

    def event(self, row: Row, column: str) -> int:
        value = self.text(row, column)
        if value not in ("0", "1"):
            raise self.error(row, column, f"{value!r} is not 1 (event) or 0 (censored)")
        return int(value)

    def date(self, row: Row, column: str) -> date:
        value = self.text(row, column)
        if not ISO_DATE.fullmatch(value):
            raise self.error(row, column, f"{value!r} is not an ISO date (YYYY-MM-DD)")
        try:
            return date.fromisoformat(value)
        except ValueError as exc:
            raise self.error(row, column, f"{value!r} is not a valid date ({exc})") from None
