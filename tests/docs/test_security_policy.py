"""A vulnerability can be reported privately: SECURITY.md says how, and the security page points to it."""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def source_url() -> str:
    urls = importlib.metadata.metadata("airflow-provider-uis").get_all("Project-URL") or []
    return next(url.split(", ", 1)[1] for url in urls if url.startswith("Source, "))


def test_security_md_gives_a_private_way_to_report() -> None:
    policy = (REPO / "SECURITY.md").read_text(encoding="utf-8")
    assert f"({source_url()}/security/advisories/new)" in policy
    assert re.search(r"not in a public issue", policy)


def test_the_security_page_and_the_readme_point_to_it() -> None:
    page = (REPO / "docs" / "security.md").read_text(encoding="utf-8")
    assert f"{source_url()}/security/advisories/new" in page
    assert f"({source_url()}/blob/main/SECURITY.md)" in page
    assert "(SECURITY.md)" in (REPO / "README.md").read_text(encoding="utf-8")
