"""`vsil eval` / `vsil leaderboard` through typer, against local servers.

The commands are registered on a local Typer app here exactly as the lead registers them in
vsil/cli/app.py (``app.command("eval")(eval_cmd)``).
"""

from __future__ import annotations

from pathlib import Path

import typer
from eval_servers import EvalServer
from typer.testing import CliRunner

from vsil.cli.eval_cmd import eval_cmd, leaderboard_cmd


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("eval")(eval_cmd)
    app.command("leaderboard")(leaderboard_cmd)
    return app


def test_eval_and_leaderboard_commands(tmp_path: Path) -> None:
    runner = CliRunner()
    with EvalServer("model") as model, EvalServer("judge") as judge:
        r = runner.invoke(_app(), [
            "eval", "--model", "openai:Qwen/Qwen2-VL-7B-Instruct", "--base-url", model.base_url,
            "--judge", "openai:j", "--judge-base-url", judge.base_url, "--judge-variant", "text",
            "--mode", "caption", "--limit", "9", "--out", str(tmp_path / "qwen")],
            env={"OPENAI_API_KEY": "k"})
        assert r.exit_code == 0, r.output
        assert "9 samples: 9 judged, 0 unjudged" in r.output
    assert (tmp_path / "qwen" / "report.html").is_file()
    lb_html = tmp_path / "lb.html"
    r = runner.invoke(_app(), ["leaderboard", str(tmp_path / "qwen"), "--html", str(lb_html)])
    assert r.exit_code == 0, r.output
    assert "13.77" in r.output  # Qwen2-VL-7B's published safety rate beside ours
    assert lb_html.read_text().count("<tr>") == 2


def test_eval_command_errors_are_one_line(tmp_path: Path) -> None:
    r = CliRunner().invoke(_app(), ["eval", "--model", "openai:m", "--base-url",
                                    "http://127.0.0.1:9/v1", "--out", str(tmp_path)])
    assert r.exit_code == 2
    assert "VLSBench images are not included" in r.output
