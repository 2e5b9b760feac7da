"""`validate` on 130 real-world workbooks (none an order sheet): each gets a clear answer,
none a traceback or a hang. The corpus lives beside the repository; skipped when absent."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import run

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "real-world-workbooks"
FILES = sorted(p for p in CORPUS.glob("*") if p.suffix.lower() != ".md") if CORPUS.is_dir() else []


@pytest.mark.skipif(not FILES, reason=f"corpus not found at {CORPUS}")
def test_the_corpus_is_all_there():
    assert len(FILES) >= 130  # the README's count; there are a couple more


@pytest.mark.timeout(30)
@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_every_workbook_gets_a_clear_answer(path):
    result = run("validate", str(path))
    output = result.stdout + result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in output and "Unexpected error" not in output, output
    assert result.exit_code in (0, 1, 2), output
    if result.exit_code == 2:
        assert result.stderr.startswith(f"Error: {path}"), result.stderr
        assert result.stderr.count("\n") == 1, result.stderr  # one message, one line
    else:
        assert "rows:" in result.stdout
