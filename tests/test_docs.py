"""The repository stands alone: no file points outside it, and the docs' relative links resolve.

- No tracked file names a design document that lives outside the repository, or a path into the
  directories around it; what the code relies on is written down in ``docs/`` (CONTRIBUTING.md, "Rules
  the code keeps").
- Every relative link in ``README.md``, ``CONTRIBUTING.md``, ``CHANGELOG.md`` and ``docs/**/*.md`` points
  to a file that exists inside the repository, and a ``#fragment`` to a heading (or ``<a id>``) of the
  target page, with GitHub's heading anchors.

The checkers are plain functions so that the tests at the bottom can show each of them failing.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Documents kept beside the repository by the people who steer it, and paths that lead there. Written as
# a pattern so that this file does not name them itself.
OUTSIDE = re.compile(
    r"\b(?:DESIGN|SALESFORCE|STYLE)\.md\b"  # the steering notes
    r"|(?:\.\./)+shared\b"  # the steering folder, one or more levels up
    r"|/work/(?:shared|main|wt)\b"  # absolute paths of the machines the project is developed on
)
LINKED_DOCS = ("README.md", "CONTRIBUTING.md", "CHANGELOG.md", "docs")
SKIP_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".ico", ".pdf", ".zip", ".gz", ".parquet", ".duckdb"}
MAX_BYTES = 2_000_000

_FENCE = re.compile(r"^\s*(```|~~~)")
_CODE_SPAN = re.compile(r"`+[^`\n]*`+")
_INLINE_LINK = re.compile(r"!?\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REF_LINK = re.compile(r"^\s{0,3}\[[^\]\n]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$")
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_HTML_ANCHOR = re.compile(r"<a\s+(?:id|name)=\"([^\"]+)\"", re.IGNORECASE)
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
_DOC_MENTION = re.compile(r"(?<![\w./-])(docs/[\w./-]+?\.md)(?:#([\w-]+))?")


def tracked_files(root: Path = ROOT) -> list[Path]:
    """The files git tracks (a fresh clone's files); every file but ignored ones when git is unavailable."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True, timeout=60
        ).stdout
        return [root / name for name in out.decode().split("\0") if name]
    except (OSError, subprocess.SubprocessError):
        ignored = {".git", ".venv", "node_modules", "__pycache__", ".mypy_cache", ".ruff_cache"}
        return [p for p in root.rglob("*") if p.is_file() and not ignored & set(p.relative_to(root).parts)]


def read_text(path: Path) -> str | None:
    """The file as text, or None for binary, large or unreadable files."""
    if path.suffix.lower() in SKIP_SUFFIXES or not path.is_file() or path.stat().st_size > MAX_BYTES:
        return None
    try:
        return path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return None


def outside_mentions(files: Iterable[Path], root: Path = ROOT) -> list[str]:
    """``file:line: text`` for every line that names a document or path outside the repository."""
    found = []
    for path in files:
        text = read_text(path)
        if text is None:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            match = OUTSIDE.search(line)
            if match:
                found.append(f"{path.relative_to(root)}:{number}: {match.group(0)!r} in {line.strip()[:120]}")
    return found


def _prose_lines(text: str, *, keep_code: bool = False) -> Iterable[tuple[int, str]]:
    """Lines outside fenced code blocks, with inline code spans blanked out unless ``keep_code``."""
    fenced = False
    for number, line in enumerate(text.splitlines(), 1):
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            yield number, line if keep_code else _CODE_SPAN.sub("", line)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: plain text, lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links keep their text
    text = re.sub(r"<[^>]+>", "", text).lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every anchor a Markdown page offers: heading slugs (numbered when repeated) and ``<a id>``."""
    seen: dict[str, int] = {}
    found = set(_HTML_ANCHOR.findall(text))
    for _number, line in _prose_lines(text, keep_code=True):
        match = _HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(text: str) -> Iterable[tuple[int, str]]:
    """(line, target) of every inline, image and reference-style link outside code."""
    for number, line in _prose_lines(text):
        for match in _INLINE_LINK.finditer(line):
            yield number, match.group(1)
        ref = _REF_LINK.match(line)
        if ref:
            yield number, ref.group(1)


def broken_links(pages: Iterable[Path], root: Path = ROOT) -> list[str]:
    """``page:line: target (why)`` for every relative link that does not resolve inside the repository."""
    root = root.resolve()
    problems = []
    for page in pages:
        text = read_text(page)
        if text is None:
            continue
        for number, target in links(text):
            if _SCHEME.match(target) or target.startswith("//"):
                continue  # a URL: not checked here
            path_part, _, fragment = target.partition("#")
            where = f"{page.relative_to(root)}:{number}: {target}"
            dest = (page.parent / path_part).resolve() if path_part else page.resolve()
            if path_part.startswith("/") or not dest.is_relative_to(root):
                problems.append(f"{where} (points outside the repository)")
            elif not dest.exists():
                problems.append(f"{where} (no such file)")
            elif fragment and dest.suffix == ".md" and fragment not in anchors(dest.read_text("utf-8")):
                problems.append(f"{where} (no heading with anchor #{fragment} in {dest.relative_to(root)})")
    return problems


def stale_doc_mentions(files: Iterable[Path], root: Path = ROOT) -> list[str]:
    """``file:line: docs/x.md#anchor`` for every mention, in any file, of a doc page or anchor that is gone.

    Code cites the facts it relies on as ``docs/salesforce-facts.md#bulk-csv-rules``; renaming a heading
    must not leave those citations dangling.
    """
    problems = []
    for path in files:
        text = read_text(path)
        if text is None:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            for match in _DOC_MENTION.finditer(line):
                doc, fragment = root / match.group(1), match.group(2)
                where = f"{path.relative_to(root)}:{number}: {match.group(0)}"
                if not doc.is_file():
                    problems.append(f"{where} (no such file)")
                elif fragment and fragment not in anchors(doc.read_text("utf-8")):
                    problems.append(f"{where} (no heading with that anchor)")
    return problems


def linked_pages(root: Path = ROOT) -> list[Path]:
    pages = []
    for name in LINKED_DOCS:
        path = root / name
        pages += sorted(path.rglob("*.md")) if path.is_dir() else [path] if path.exists() else []
    return pages


# --- the repository ----------------------------------------------------------------------------------


def test_no_file_points_outside_the_repository() -> None:
    found = outside_mentions(tracked_files())
    assert not found, "name the repository's own docs (docs/...) instead:\n" + "\n".join(found)


def test_relative_links_in_the_docs_resolve() -> None:
    pages = linked_pages()
    assert ROOT / "docs" / "salesforce-facts.md" in pages and ROOT / "CONTRIBUTING.md" in pages
    problems = broken_links(pages)
    assert not problems, "broken links:\n" + "\n".join(problems)


def test_doc_pages_and_anchors_cited_in_files_exist() -> None:
    this_file = Path(__file__).resolve()  # its own examples below name pages that do not exist
    problems = stale_doc_mentions(p for p in tracked_files() if p.resolve() != this_file)
    assert not problems, "citations of docs that do not exist:\n" + "\n".join(problems)


# --- the checkers fail when they should ---------------------------------------------------------------


def test_mentions_of_outside_documents_are_found(tmp_path: Path) -> None:
    name = "SALESFORCE" + ".md"
    (tmp_path / "a.py").write_text(f'"""Codes of {name} section 7."""\nx = 1\n', encoding="utf-8")
    (tmp_path / "b.md").write_text("See ../../" + "shared/notes for details.\n", encoding="utf-8")
    (tmp_path / "c.md").write_text("Fine: docs/salesforce-facts.md#error-codes, shared_cassettes/.\n")
    found = outside_mentions(sorted(tmp_path.iterdir()), root=tmp_path)
    assert [f.split(":")[0:2] for f in found] == [["a.py", "1"], ["b.md", "1"]]


def test_stale_doc_mentions_are_found(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "facts.md").write_text("# Facts\n\n## Error codes\n", encoding="utf-8")
    code = tmp_path / "m.py"
    code.write_text(
        "# see docs/facts.md#error-codes and docs/facts.md\n# docs/facts.md#gone, docs/old.md\n",
        encoding="utf-8",
    )
    problems = stale_doc_mentions([code], root=tmp_path)
    assert [p.split(" (")[0] for p in problems] == ["m.py:2: docs/facts.md#gone", "m.py:2: docs/old.md"]


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("Bulk CSV rules", "bulk-csv-rules"),
        ("`sfsync check`: validation against the org", "sfsync-check-validation-against-the-org"),
        ("Records through REST", "records-through-rest"),
        ("Bulk API 2.0 ingest", "bulk-api-20-ingest"),
        ("A [linked](https://example.com) title", "a-linked-title"),
    ],
)
def test_heading_anchors_follow_github(heading: str, anchor: str) -> None:
    assert slug(heading) == anchor


def test_broken_links_are_found(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "target.md").write_text('# Title\n\n## Part one\n\n## Part one\n\n<a id="kept"></a>\n')
    page = docs / "page.md"
    page.write_text(
        "\n".join(
            [
                "[ok](target.md) [ok](target.md#part-one) [ok](target.md#part-one-1) [ok](target.md#kept)",
                "[ok](#here) [url](https://example.com/x.md) `[in code](missing.md)`",
                "```",
                "[in a fence](missing.md)",
                "```",
                "## Here",
                "[gone](missing.md)",
                "[no anchor](target.md#part-two)",
                "[escapes](../../elsewhere/notes.md)",
                "[ref]: ./also-missing.md",
            ]
        ),
        encoding="utf-8",
    )
    problems = broken_links([page], root=tmp_path)
    assert [p.split(": ", 1)[0] for p in problems] == [
        "docs/page.md:7",
        "docs/page.md:8",
        "docs/page.md:9",
        "docs/page.md:10",
    ]
    assert "no such file" in problems[0] and "#part-two" in problems[1]
    assert "outside the repository" in problems[2]
