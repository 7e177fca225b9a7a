"""How every command reports errors: exit codes, one readable line on stderr per error."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer

from core.errors import Category, ScanragError

EXIT_OK = 0
EXIT_BAD_INPUT = 1  # at least one input was refused; the others were processed
EXIT_INTERNAL = 3  # scanrag itself failed (a model could not load, ...)


def fail_line(path: Path | str, error: ScanragError) -> None:
    """One readable line on stderr for a refused input."""
    refusal_line(path, error.message, error.code)


def refusal_line(path: Path | str, message: str, code: str) -> None:
    """``scanrag: PATH: message [code]`` on stderr."""
    print(f"scanrag: {path}: {message} [{code}]", file=sys.stderr, flush=True)


def error_line(error: ScanragError) -> None:
    """One readable line on stderr for an error that is not about one input."""
    print(f"scanrag: {error.message} [{error.code}]", file=sys.stderr, flush=True)


def exit_code(error: ScanragError) -> int:
    """The exit code for an error: bad input 1, anything else 3."""
    return EXIT_BAD_INPUT if error.category is Category.BAD_INPUT else EXIT_INTERNAL


@contextmanager
def exit_on_error() -> Iterator[None]:
    """Turn a ScanragError (or a database error) in the block into one line and its exit code."""
    try:
        yield
    except ScanragError as exc:
        error_line(exc)
        raise typer.Exit(exit_code(exc)) from exc
    except Exception as exc:
        # sqlalchemy is looked up, not imported: it costs 0.2 s, and an error of its own
        # means it was imported by the block
        sa_errors = sys.modules.get("sqlalchemy.exc")
        if sa_errors is None or not isinstance(exc, sa_errors.SQLAlchemyError):
            raise
        # the driver's first line names the cause (refused connection, locked file, ...)
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        error_line(ScanragError(f"database error: {reason}"))
        raise typer.Exit(EXIT_INTERNAL) from exc
