"""The README's two commands are exactly what CI runs."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", text, flags=re.S)
    cmds = []
    for b in blocks[:2]:
        lines = [ln for ln in b.splitlines() if ln.strip() and not ln.startswith("#")]
        assert len(lines) == 1, b
        cmds.append(lines[0])
    return cmds


def test_ci_runs_the_readme_commands() -> None:
    ci = [ln for ln in (ROOT / ".ci" / "run").read_text().splitlines()
          if ln.strip() and not ln.startswith("#")]
    install, tests = _readme_commands()
    assert install in ci and tests in ci
    assert ci.index(install) < ci.index(tests)
    assert "pip install torch==2.13.0" in install and "vsil audit vlsbench" in install
