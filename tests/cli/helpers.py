"""Shared helpers for CLI tests."""
from __future__ import annotations

import json

import pytest

from classkit.cli.main import main


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    """Run ``classkit ARGV --json``; assert success (showing stderr) and parse stdout."""
    code = main([*argv, "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err or captured.out
    return json.loads(captured.out)
