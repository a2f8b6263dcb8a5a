"""The manual reads as plain Markdown on GitHub: shared parts are copies of their source, kept in step by a test.

``scripts/sync_docs.py`` writes the copies (README sections, the changelog, the benchmark table); a page whose copy
no longer matches its source fails here, and so does any Sphinx-only include or role, which GitHub shows as a box.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]


def sync_docs() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sync_docs", REPO / "scripts" / "sync_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SYNC = sync_docs()
PAGES = SYNC.pages()


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.relative_to(REPO).as_posix())
def test_every_copy_matches_its_source(page: Path) -> None:
    assert SYNC.synced(page) == page.read_text(encoding="utf-8"), (
        f"{page.relative_to(REPO)} holds a stale copy of its source: run python scripts/sync_docs.py"
    )


@pytest.mark.parametrize(
    "page", [p for p in PAGES if "reference" not in p.parts], ids=lambda page: page.relative_to(REPO).as_posix()
)
def test_no_page_needs_sphinx_to_be_read(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    assert not re.search(r"^```\{(include|literalinclude)\}", text, re.M), "an include GitHub shows as a box"
    assert "{py:" not in text, "a Sphinx role GitHub shows as text: link with [`Name`](#module.Name)"


def test_a_changed_source_is_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    (tmp_path / "README.md").write_text(readme.replace("make demo", "make demo-2", 1), encoding="utf-8")
    monkeypatch.setattr(SYNC, "REPO", tmp_path)
    page = REPO / "docs" / "getting-started.md"
    assert "make demo-2" in SYNC.synced(page)
    assert SYNC.synced(page) != page.read_text(encoding="utf-8")


def test_links_are_rewritten_for_the_page(tmp_path: Path) -> None:
    text = "[Compatibility](docs/compatibility.md), [changes](CHANGELOG.md#unreleased), [web](https://example.com/x)"
    page = REPO / "docs" / "operators" / "uploaded-calls.md"
    assert SYNC.rebase_links(text, REPO / "README.md", page) == (
        "[Compatibility](../compatibility.md), [changes](../../CHANGELOG.md#unreleased), [web](https://example.com/x)"
    )
