"""The action helpers (busy.js, jobs.js, cli.js) come from base.html once: no page adds them again,
no page that is a whole document goes without them (a template scan: no engine, no database)."""

from pathlib import Path

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
INCLUDE = '{% include "_actions.html" %}'


def _pages() -> list[Path]:
    return [p for p in TEMPLATES.rglob("*.html") if '{% extends "base.html" %}' in p.read_text()]


def test_base_includes_the_action_helpers_once():
    assert (TEMPLATES / "base.html").read_text().count(INCLUDE) == 1


def test_no_page_includes_them_again():
    doubled = [str(p.relative_to(TEMPLATES)) for p in _pages() if "_actions.html" in p.read_text()]
    assert doubled == []


def test_no_page_loads_a_helper_script_itself():
    scripts = ("js/busy.js", "js/jobs.js", "js/cli.js")
    loading = [str(p.relative_to(TEMPLATES)) for p in TEMPLATES.rglob("*.html")
               if p.name != "_actions.html" and any(s in p.read_text() for s in scripts)]  # fmt: skip
    assert loading == []


def test_the_main_pages_extend_base():
    names = {str(p.relative_to(TEMPLATES)) for p in _pages()}
    for page in ("overview/overview.html", "containers/detail.html", "jobs/job.html", "images/prune.html"):
        assert page in names
