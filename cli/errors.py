"""How every command reports errors: exit codes, one readable line on stderr per error."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer

from core.errors import ExitCode, ScanragError

# each error carries its own exit code (ScanragError.exit_code); these name the values
EXIT_OK = ExitCode.OK
EXIT_BAD_INPUT = ExitCode.BAD_INPUT  # at least one input was refused; the others were processed
EXIT_INTERNAL = ExitCode.INTERNAL  # scanrag itself failed (a model could not load, ...)


def fail_line(path: Path | str, error: ScanragError) -> None:
    """One readable line on stderr for a refused input."""
    refusal_line(path, error.message, error.code)


def refusal_line(path: Path | str, message: str, code: str) -> None:
    """``scanrag: PATH: message [code]`` on stderr."""
    print(f"scanrag: {path}: {message} [{code}]", file=sys.stderr, flush=True)


def error_line(error: ScanragError) -> None:
    """One readable line on stderr for an error that is not about one input."""
    print(f"scanrag: {error.message} [{error.code}]", file=sys.stderr, flush=True)


@contextmanager
def exit_on_error() -> Iterator[None]:
    """Turn a ScanragError (or a database error) in the block into one line and its exit code."""
    try:
        yield
    except ScanragError as exc:
        error_line(exc)
        raise typer.Exit(exc.exit_code) from exc
    except Exception as exc:
        # sqlalchemy is looked up, not imported: it costs 0.2 s, and an error of its own
        # means it was imported by the block
        sa_errors = sys.modules.get("sqlalchemy.exc")
        if sa_errors is None or not isinstance(exc, sa_errors.SQLAlchemyError):
            raise
        from storage.errors import database_reason  # sqlalchemy is loaded by now

        error = ScanragError(f"database error: {database_reason(exc)}")
        error_line(error)
        raise typer.Exit(error.exit_code) from exc
