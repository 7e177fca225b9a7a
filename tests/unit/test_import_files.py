"""A folder batch reads each file once, from one descriptor opened without following links:
a file (or a folder on its path) swapped for a link, or a file swapped for a FIFO, between the
listing and the reading is refused with a reason, never read and never waited on.

A real SQLite database and blob store (``Runtime.build``); the swap happens through the one
seam between listing and reading (``files_inside``), with the real listing underneath."""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections.abc import Callable
from pathlib import Path, PurePosixPath

import pytest
from sqlalchemy import select

from core.config import Settings
from core.errors import CorruptDocument, NotRegularFile, PathNotAllowed
from pipelines.import_files import open_inside, tenant_folder
from storage import jobs
from storage.tables import Batch, BatchItem, Document
from workers import batches
from workers.runtime import Runtime

PDF = b"%PDF-1.4\n% a listed scan\n"
SECRET = b"%PDF-1.4\n% the neighbour's salary review\n"


@pytest.fixture()
def imports(tmp_path: Path) -> Path:
    """An import root with tenant acme's folder ``inbox`` and, beside it, tenant globex's."""
    root = tmp_path / "imports"
    (root / "acme" / "inbox" / "sub").mkdir(parents=True)
    (root / "acme" / "inbox" / "a.pdf").write_bytes(PDF)
    (root / "acme" / "inbox" / "sub" / "b.pdf").write_bytes(PDF + b"b")
    (root / "globex" / "private").mkdir(parents=True)
    (root / "globex" / "private" / "a.pdf").write_bytes(SECRET)
    (root / "globex" / "private" / "b.pdf").write_bytes(SECRET)
    return root


@pytest.fixture()
def runtime(tmp_path: Path, imports: Path) -> Runtime:
    settings = Settings(home=tmp_path / "home", service={"import_root": imports})  # type: ignore[arg-type]
    return Runtime.build(settings)


def swap_after_listing(monkeypatch: pytest.MonkeyPatch, swap: Callable[[], None]) -> None:
    """Run ``swap`` once the batch's folder has been listed, before any file is read."""
    listed = batches.files_inside

    def list_then_swap(folder: Path) -> tuple[list[PurePosixPath], list[PurePosixPath]]:
        found = listed(folder)
        swap()
        return found

    monkeypatch.setattr(batches, "files_inside", list_then_swap)


def run_batch(runtime: Runtime, source: str, tenant: str = "acme") -> tuple[Batch, list[BatchItem]]:
    """List a batch of ``source`` (as the worker does); its row and items. Fails if listing
    does not return within 20 s (a pool process stalled on a FIFO)."""
    with runtime.sessions.begin() as session:
        batch_id = jobs.create_batch(session, tenant=tenant, source=source).id
    queued: list[str] = []
    worker = threading.Thread(
        target=batches.list_batch_files, args=(runtime, batch_id), kwargs={"enqueue": queued.append}
    )
    worker.daemon = True
    worker.start()
    worker.join(20)
    assert not worker.is_alive(), "listing the batch stalled"
    with runtime.sessions() as session:
        batch = session.get(Batch, batch_id)
        assert batch is not None
        items = session.scalars(
            select(BatchItem).where(BatchItem.batch_id == batch_id).order_by(BatchItem.path)
        ).all()
        session.expunge_all()
    return batch, list(items)


def stored_contents(runtime: Runtime) -> set[str]:
    with runtime.sessions() as session:
        return set(session.scalars(select(Document.sha256)).all())


def assert_secret_not_read(runtime: Runtime) -> None:
    """Globex's file is neither a document nor a stored blob."""
    secret = hashlib.sha256(SECRET).hexdigest()
    assert secret not in stored_contents(runtime) and not runtime.blobs.exists(secret)


def test_a_file_swapped_for_a_link_after_listing_is_refused(
    runtime: Runtime, imports: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = imports / "acme" / "inbox" / "a.pdf"

    def swap() -> None:
        target.unlink()
        target.symlink_to(imports / "globex" / "private" / "a.pdf")

    swap_after_listing(monkeypatch, swap)
    batch, items = run_batch(runtime, "inbox")
    assert batch.status == "listed" and batch.files_total == 2
    assert [(i.path, i.document_id is None, i.error_code) for i in items] == [
        ("inbox/a.pdf", True, "path_not_allowed"),
        ("inbox/sub/b.pdf", False, None),
    ]
    assert "link" in (items[0].error_message or "")
    assert_secret_not_read(runtime)


def test_a_folder_swapped_for_a_link_after_listing_is_refused(
    runtime: Runtime, imports: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sub = imports / "acme" / "inbox" / "sub"

    def swap() -> None:
        sub.rename(imports / "acme" / "moved")
        sub.symlink_to(imports / "globex" / "private", target_is_directory=True)

    swap_after_listing(monkeypatch, swap)
    _, items = run_batch(runtime, "inbox")
    assert [(i.path, i.error_code) for i in items] == [
        ("inbox/a.pdf", None),
        ("inbox/sub/b.pdf", "path_not_allowed"),
    ]
    assert_secret_not_read(runtime)


def test_a_file_swapped_for_a_fifo_after_listing_is_refused_without_waiting(
    runtime: Runtime, imports: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = imports / "acme" / "inbox" / "a.pdf"

    def swap() -> None:
        target.unlink()
        os.mkfifo(target)

    swap_after_listing(monkeypatch, swap)
    try:
        batch, items = run_batch(runtime, "inbox")
    finally:
        # a reader blocked on the FIFO (the bug) gets end of file, so the test process can end
        with contextlib.suppress(OSError):  # ENXIO: nobody is reading it, nothing to release
            os.close(os.open(target, os.O_WRONLY | os.O_NONBLOCK))
    assert batch.status == "listed" and batch.files_total == 2
    assert [(i.path, i.error_code) for i in items] == [
        ("inbox/a.pdf", "not_regular_file"),
        ("inbox/sub/b.pdf", None),
    ]
    assert items[1].document_id is not None


def test_the_worker_keeps_a_batch_inside_its_tenants_folder(
    runtime: Runtime, imports: Path
) -> None:
    # the API refuses these; a row written otherwise (or a folder turned into a link since)
    # is checked again by the worker, which lists nothing outside acme's folder
    (imports / "acme" / "escape").symlink_to(imports / "globex", target_is_directory=True)
    for source in ("../globex/private", str(imports / "globex" / "private"), "escape/private"):
        batch, items = run_batch(runtime, source)
        assert batch.status == "failed" and items == [], source
        reason = batch.error_message or ""
        assert "out of your import folder" in reason or "relative" in reason, source
    assert stored_contents(runtime) == set()


def test_a_tenant_reads_its_own_folder_and_paths_are_relative(
    runtime: Runtime, imports: Path
) -> None:
    batch, items = run_batch(runtime, "inbox")
    assert batch.status == "listed" and batch.files_total == 2
    assert [(i.path, i.error_code) for i in items] == [
        ("inbox/a.pdf", None),
        ("inbox/sub/b.pdf", None),
    ]
    globex, globex_items = run_batch(runtime, "private", tenant="globex")
    assert globex.status == "listed" and [i.path for i in globex_items] == [
        "private/a.pdf",
        "private/b.pdf",
    ]


def test_a_tenant_name_that_is_not_one_folder_name_has_no_import_folder(tmp_path: Path) -> None:
    assert tenant_folder(tmp_path, "acme corp") == tmp_path.resolve() / "acme corp"
    for name in ("", ".", "..", "acme/../globex", "a\x00b"):
        with pytest.raises(PathNotAllowed):
            tenant_folder(tmp_path, name)


def test_opening_refuses_what_is_not_a_file_below_the_folder(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "file.pdf").write_bytes(PDF)
    with open_inside(tmp_path, PurePosixPath("file.pdf")) as f:
        assert f.read() == PDF
    with pytest.raises(NotRegularFile):
        open_inside(tmp_path, PurePosixPath("dir"))
    for path in ("../x", "/etc/hostname", "dir/../file.pdf"):
        with pytest.raises(PathNotAllowed):
            open_inside(tmp_path, PurePosixPath(path))
    with pytest.raises(CorruptDocument, match="gone"):
        open_inside(tmp_path, PurePosixPath("dir/none.pdf"))
