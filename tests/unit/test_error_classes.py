"""Every error class carries its HTTP status and CLI exit code, and defines its code once."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from collections.abc import Callable
from pathlib import Path

import pytest

from core.errors import BadInput, Category, ExitCode, ScanragError, Transient

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "storage", "pipelines", "workers", "api", "cli")

# the statuses that differ from the category's default (bad input 422, transient 503,
# internal 500): what the API answered before the statuses moved onto the classes
NOT_DEFAULT = {
    "empty_file": 400,
    "file_too_large": 413,
    "too_many_items": 413,
    "unsupported_type": 415,
    "path_not_allowed": 403,
    "document_not_found": 404,
    "page_not_found": 404,
    "table_not_found": 404,
    "index_model_mismatch": 409,
    "storage_full": 507,
}
DEFAULT_STATUS = {Category.BAD_INPUT: 422, Category.TRANSIENT: 503, Category.INTERNAL: 500}


def _every_error_class() -> list[type[ScanragError]]:
    for package in PACKAGES:
        for info in pkgutil.walk_packages(importlib.import_module(package).__path__, f"{package}."):
            importlib.import_module(info.name)
    found: list[type[ScanragError]] = []
    todo: list[type[ScanragError]] = [ScanragError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


CLASSES = _every_error_class()


def test_the_walk_finds_the_classes_of_every_layer() -> None:
    modules = {cls.__module__.split(".")[0] for cls in CLASSES}
    assert {"core", "storage", "pipelines", "workers", "api"} <= modules
    assert len(CLASSES) > 30


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: f"{c.__module__}.{c.__qualname__}")
def test_each_class_carries_the_status_and_exit_code_of_its_category(
    cls: type[ScanragError],
) -> None:
    assert isinstance(cls.http_status, int) and 400 <= cls.http_status <= 599
    assert cls.exit_code in (ExitCode.BAD_INPUT, ExitCode.INTERNAL)
    if issubclass(cls, BadInput):
        assert cls.category is Category.BAD_INPUT and cls.exit_code == 1
        assert cls.http_status < 500
    else:
        assert cls.exit_code == 3
    if issubclass(cls, Transient):
        assert cls.category is Category.TRANSIENT and cls.http_status >= 500
    expected = NOT_DEFAULT.get(cls.code, DEFAULT_STATUS[cls.category])
    if cls.__name__ != "ApiError":  # its code and status are given where it is raised
        assert cls.http_status == expected, cls.code


def test_each_code_is_defined_by_exactly_one_class() -> None:
    by_code: dict[str, list[str]] = {}
    for cls in CLASSES:
        if "code" in vars(cls):
            by_code.setdefault(cls.code, []).append(f"{cls.__module__}.{cls.__qualname__}")
    assert {code: where for code, where in by_code.items() if len(where) > 1} == {}
    assert "model_not_configured" in by_code and "invalid_request" in by_code


def _api_error_codes() -> dict[str, str]:
    """Each ``ApiError("code", ...)`` raised in api/, with where it is."""
    out: dict[str, str] = {}
    for path in sorted((ROOT / "api").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "ApiError"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                out[node.args[0].value] = f"{path.relative_to(ROOT)}:{node.lineno}"
    return out


def test_the_api_raises_no_code_that_a_class_defines() -> None:
    """A refusal with a class of its own is raised as that class, so its status is the class's."""
    api_codes = _api_error_codes()
    assert "unauthorized" in api_codes  # the scan sees the raises
    class_codes = {cls.code for cls in CLASSES if "code" in vars(cls)}
    assert {c: w for c, w in api_codes.items() if c in class_codes} == {}


def _raiser(error: ScanragError) -> Callable[[], None]:
    def route() -> None:
        raise error

    return route


def test_the_translator_answers_with_the_status_the_error_carries() -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from api.errors import ApiError, install_error_handlers, not_found
    from pipelines.encode import TooManyItems
    from storage.errors import IndexMismatch

    app = FastAPI()
    install_error_handlers(app)
    raised = {
        "/mismatch": IndexMismatch(),
        "/items": TooManyItems("at most 64 items"),
        "/document": not_found("document"),
        "/batch": not_found("batch"),
        "/streams": ApiError("too_many_streams", "close one", 429),
        "/plain": ApiError("bad_request", "no file"),
    }
    for path, error in raised.items():
        app.get(path)(_raiser(error))
    client = TestClient(app)
    answers = {path: client.get(path) for path in raised}
    assert {p: (r.status_code, r.json()["error"]["code"]) for p, r in answers.items()} == {
        "/mismatch": (409, "index_model_mismatch"),
        "/items": (413, "too_many_items"),
        "/document": (404, "document_not_found"),
        "/batch": (404, "batch_not_found"),
        "/streams": (429, "too_many_streams"),
        "/plain": (400, "bad_request"),
    }
    assert answers["/document"].json()["error"]["message"] == "no document has this id"
    assert answers["/items"].json()["error"]["message"] == "at most 64 items"


@pytest.mark.parametrize(
    ("error", "code"),
    [(BadInput("refused"), 1), (Transient("later"), 3), (ScanragError("ours"), 3)],
)
def test_the_cli_exits_with_the_code_the_error_carries(
    error: ScanragError, code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    import typer

    from cli.errors import exit_on_error

    with pytest.raises(typer.Exit) as exited, exit_on_error():
        raise error
    assert exited.value.exit_code == code
    assert capsys.readouterr().err == f"scanrag: {error.message} [{error.code}]\n"


def test_the_cli_tells_a_database_error_by_the_drivers_first_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import sqlite3

    import typer
    from sqlalchemy.exc import OperationalError

    from cli.errors import exit_on_error

    fault = OperationalError("INSERT ...", {}, sqlite3.OperationalError("disk I/O error\nmore"))
    with pytest.raises(typer.Exit) as exited, exit_on_error():
        raise fault
    assert exited.value.exit_code == 3
    assert capsys.readouterr().err == "scanrag: database error: disk I/O error [internal]\n"
