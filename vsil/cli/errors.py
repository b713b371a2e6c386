"""vsil's expected errors -> one line on stderr and an exit code (shared by every command).

Exit codes: 2 bad input or arguments, 3 a missing optional dependency, 4 a detector or
endpoint that is unavailable (what finished is cached or saved, so a re-run resumes).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import typer

F = TypeVar("F", bound=Callable[..., Any])
EXIT_BAD_INPUT = 2
EXIT_MISSING_DEP = 3
EXIT_UNAVAILABLE = 4


def one_line(e: BaseException) -> str:
    """An error's message on one line."""
    return " ".join(str(e).split())


def friendly_errors(fn: F) -> F:
    """Turn vsil's expected errors into one line on stderr and a non-zero exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from vsil.dataset import DataError
        from vsil.runtime.failures import Unavailable

        try:
            return fn(*args, **kwargs)
        except Unavailable as e:
            typer.echo(f"error: {one_line(e)}", err=True)
            raise typer.Exit(EXIT_UNAVAILABLE) from None
        except DataError as e:
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(EXIT_BAD_INPUT) from None
        except ImportError as e:
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(EXIT_MISSING_DEP) from None
        except (ValueError, TypeError, FileNotFoundError, KeyError) as e:
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(EXIT_BAD_INPUT) from None

    return wrapper  # type: ignore[return-value]
