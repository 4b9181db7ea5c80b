"""Bulk API CSV → Arrow: every column a string, values exactly as sent (not trimmed, empty stays empty).

Salesforce's CSV is UTF-8 with ``"`` quoting and doubled quotes, and values may hold newlines. pyarrow's C
reader parses it; we only pin every column to ``string`` and switch off null detection, so ``""``, ``#N/A``
and ``NULL`` stay the strings they are.
"""

from __future__ import annotations

import csv
import io
from typing import IO

import pyarrow as pa
import pyarrow.csv as pacsv

DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^", "BACKQUOTE": "`"}

# pyarrow reads the file in blocks of this many bytes; a block must hold at least one whole row.
READ_BLOCK_BYTES = 16 * 1024 * 1024


def header_of(first_line: bytes, delimiter: str = ",") -> list[str]:
    """Column names from the CSV header line."""
    text = first_line.decode("utf-8-sig").rstrip("\r\n")
    return next(csv.reader([text], delimiter=delimiter), [])


def read_csv_table(source: bytes | IO[bytes], *, delimiter: str = ",") -> pa.Table:
    """Parse Bulk CSV (bytes or a binary file positioned at its start) into a Table of string columns."""
    stream: IO[bytes] = io.BytesIO(source) if isinstance(source, bytes | bytearray) else source
    start = stream.tell()
    first = stream.readline()
    if not first.strip():
        return pa.table({})
    names = header_of(first, delimiter)
    stream.seek(start)
    return pacsv.read_csv(
        stream,
        read_options=pacsv.ReadOptions(use_threads=True, block_size=READ_BLOCK_BYTES),
        parse_options=pacsv.ParseOptions(
            delimiter=delimiter, quote_char='"', double_quote=True, newlines_in_values=True
        ),
        convert_options=pacsv.ConvertOptions(
            column_types={name: pa.string() for name in names},
            null_values=[],
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
            check_utf8=True,
        ),
    )


__all__ = ["DELIMITERS", "READ_BLOCK_BYTES", "header_of", "read_csv_table"]
