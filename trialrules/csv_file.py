"""What every uploaded CSV file a site checks before importing shares (lab results, a subject list): the
problem named by data row, file line and column; reading the rows (a byte-order mark tolerated, blank lines
skipped); the header check; and one row's collector of problems. Pure Python."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """A problem of the file: the data row and file line (None for the file as a whole), the column (None when
    the problem is not one cell's) and the message. ``str()`` gives "row 3 (line 4), column 'unit': ..."."""

    row: int | None
    line: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        if self.row is not None:
            place = f"row {self.row} (line {self.line})"
        elif self.line is not None:
            place = f"line {self.line}"
        else:
            place = ""
        if self.column is not None:
            place = f"{place}, column {self.column!r}" if place else f"column {self.column!r}"
        return f"{place}: {self.message}" if place else self.message

    def as_dict(self) -> dict:
        return {"row": self.row, "line": self.line, "column": self.column, "message": self.message}


class Row:
    """The checks of one data row, collecting problems."""

    def __init__(self, number: int, line: int, cells: dict[str, str], problems: list[Problem]):
        self.number, self.line, self.cells, self.problems = number, line, cells, problems
        self.bad = False

    def cell(self, column: str) -> str:
        return self.cells.get(column, "")

    def problem(self, column: str | None, message: str) -> None:
        self.problems.append(Problem(self.number, self.line, column, message))
        self.bad = True


Rows = list[tuple[int, int, list[str]]]


def read(text: str, problems: list[Problem], *, things: str) -> tuple[int, list[str], Rows] | None:
    """The header's line, its names (stripped, lower case) and the data rows (number, line, fields); None if
    the file is empty or unreadable (``things``: what the rows are, for the message)."""
    if text.startswith("\ufeff"):
        text = text[1:]
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = None
        for fields in reader:
            if any(field.strip() for field in fields):
                header = fields
                break
        if header is None:
            problems.append(Problem(None, None, None, f"the file is empty (no header row, no {things})"))
            return None
        header_line = reader.line_num
        rows = []
        for fields in reader:
            if not any(field.strip() for field in fields):
                continue  # a blank line
            rows.append((len(rows) + 1, reader.line_num, fields))
    except csv.Error as exc:
        problems.append(Problem(None, reader.line_num, None, f"not a readable CSV file ({exc})"))
        return None
    return header_line, [name.strip().lower() for name in header], rows


def check_header(line: int, names: list[str], problems: list[Problem], *, columns, required) -> bool:
    """Header problems; False when rows cannot be checked (a required column missing or a column doubled)."""
    usable = True
    seen: set[str] = set()
    for name in names:
        if name in seen:
            problems.append(Problem(None, line, name, "this column appears more than once"))
            usable = False
        seen.add(name)
        if name not in columns:
            what = "a column with no name" if not name else "an unknown column"
            problems.append(Problem(None, line, name, f"{what} (the columns are: {', '.join(columns)})"))
    for name in required:
        if name not in seen:
            problems.append(Problem(None, line, name, f"the required column {name!r} is missing; no row was checked"))
            usable = False
    return usable
