"""`vsil audit` and `vsil filter` share one declaration of their options (cli/options.py)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from typer.testing import CliRunner

from vsil.cli import app
from vsil.cli.options import AuditArgs

runner = CliRunner()


def test_both_commands_offer_every_shared_option() -> None:
    flags = [f.metadata["decls"][0] for f in dataclasses.fields(AuditArgs)]
    assert len(flags) == 19
    for cmd in ("audit", "filter"):
        out = runner.invoke(app, [cmd, "--help"], terminal_width=200).output
        missing = [f for f in flags if f not in out]
        assert not missing, (cmd, missing)


def test_the_options_become_the_arguments_of_vsil_audit() -> None:
    args = AuditArgs(judge="openai:m", base_url="http://h/v1", judge_concurrency=4,
                     overlap="lexical, none", describe="ocr,caption-hf", no_cache=True,
                     image_root=Path("imgs"), text="question")
    assert args.audit_kwargs() == {
        "judge": "openai:m", "overlap": ["lexical"], "text_judge": None,
        "describe": ["ocr", "caption-hf"], "cache": False, "retry_errors": False,
        "image_judge": "auto", "judge_options": {"base_url": "http://h/v1", "concurrency": 4},
        "image_root": "imgs", "text": "question"}
    assert AuditArgs().audit_kwargs() == {
        "judge": "embedded", "overlap": ["embedding", "lexical"], "text_judge": None,
        "describe": "auto", "cache": True, "retry_errors": False, "image_judge": "auto"}
    assert AuditArgs(image_judge="none").audit_kwargs()["image_judge"] is None
