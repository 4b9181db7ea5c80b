"""Bulk CSV → Arrow: string columns, nothing trimmed, empty stays empty, #N/A stays text."""

from __future__ import annotations

import io

import pyarrow as pa

from sfsync.salesforce.csvtable import read_csv_table


def test_values_are_kept_exactly() -> None:
    data = (
        b"sf__Id,sf__Error,Name,Phone,Note\n"
        b'001000000000001AAA,, padded ,0042,"#N/A"\n'
        b',"REQUIRED_FIELD_MISSING:Required fields are missing: [Name]",,"",NULL\n'
        b'x,,"multi\nline, with comma","say ""hi""",\xc3\xa9t\xc3\xa9\r\n'
    )
    table = read_csv_table(data)
    assert table.schema == pa.schema(
        [(n, pa.string()) for n in ["sf__Id", "sf__Error", "Name", "Phone", "Note"]]
    )
    assert table.to_pylist() == [
        {
            "sf__Id": "001000000000001AAA",
            "sf__Error": "",
            "Name": " padded ",
            "Phone": "0042",
            "Note": "#N/A",
        },
        {
            "sf__Id": "",
            "sf__Error": "REQUIRED_FIELD_MISSING:Required fields are missing: [Name]",
            "Name": "",
            "Phone": "",
            "Note": "NULL",
        },
        {
            "sf__Id": "x",
            "sf__Error": "",
            "Name": "multi\nline, with comma",
            "Phone": 'say "hi"',
            "Note": "été",
        },
    ]
    assert table.column("Phone").null_count == 0


def test_header_only_and_empty_bodies() -> None:
    header_only = read_csv_table(b"sf__Id,sf__Created,Name\n")
    assert header_only.num_rows == 0 and header_only.column_names == ["sf__Id", "sf__Created", "Name"]
    assert read_csv_table(b"").num_columns == 0


def test_reads_from_a_binary_file_and_other_delimiters() -> None:
    table = read_csv_table(io.BytesIO(b"a|b\n1| 2 \n"), delimiter="|")
    assert table.to_pylist() == [{"a": "1", "b": " 2 "}]
