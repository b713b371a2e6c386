"""`vsil view OUT_DIR`: open the report of a finished audit or eval in the default browser."""

from __future__ import annotations

import webbrowser
from pathlib import Path

import typer

#: what marks a report that carries the sample browser
BROWSER_MARK = 'id="vsil-data"'


def find_report(target: Path) -> Path:
    """The ``report.html`` of an output folder (or the page itself when given a file)."""
    if target.is_file():
        if target.suffix.lower() not in (".html", ".htm"):
            raise ValueError(f"{target} is not an HTML report")
        return target
    if not target.is_dir():
        raise FileNotFoundError(f"no such folder: {target}")
    page = target / "report.html"
    if not page.is_file():
        raise FileNotFoundError(
            f"{target} has no report.html: run `vsil audit DATA --out {target}` or "
            f"`vsil eval ... --out {target}` first, or rebuild the page from a saved result "
            f"with `vsil report {target / 'result.json'} --html {page}`")
    return page


def view_cmd(
    out_dir: Path = typer.Argument(..., help="Output folder of `vsil audit` or `vsil eval` "
                                   "(or a report.html)."),
    open_browser: bool = typer.Option(True, "--open/--no-open",
                                      help="Open the default browser (--no-open: only print "
                                      "the report's path)."),
) -> None:
    """Open the report of a finished audit or eval (with its sample browser)."""
    page = find_report(out_dir).resolve()
    uri = page.as_uri()
    typer.echo(str(page))
    with page.open(encoding="utf-8", errors="replace") as fh:
        head = fh.read(4_000_000)
    if BROWSER_MARK not in head and "</html>" in head:
        typer.echo("note: this report was written before vsil had the sample browser; "
                   "rebuild it with `vsil report result.json --html report.html`", err=True)
    if open_browser and not webbrowser.open(uri):
        typer.echo(f"could not start a browser here; open {uri} yourself", err=True)
