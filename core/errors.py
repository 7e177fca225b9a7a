"""One error hierarchy for scanrag.

Every error has a category (bad input / transient / internal), a stable machine ``code`` and a
``message`` written for the user. The edges translate them once: the CLI to exit codes, the API to
HTTP statuses, tasks to the document row.
"""

from __future__ import annotations

from enum import Enum


class Category(str, Enum):
    """Whose problem an error is: the caller's input, a passing fault, or ours."""

    BAD_INPUT = "bad_input"
    TRANSIENT = "transient"
    INTERNAL = "internal"


class ScanragError(Exception):
    """Base of every error scanrag raises on purpose."""

    code: str = "internal"
    category: Category = Category.INTERNAL
    default_message: str = "internal error"

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)

    def to_dict(self) -> dict[str, str]:
        """The ``{"code", "message"}`` body used by every edge."""
        return {"code": self.code, "message": self.message}


class BadInput(ScanragError):
    """The input cannot be processed; retrying will not help."""

    code = "bad_input"
    category = Category.BAD_INPUT
    default_message = "the input cannot be processed"


class EmptyFile(BadInput):
    code = "empty_file"
    default_message = "the file is empty (0 bytes)"


class FileNotFound(BadInput):
    code = "file_not_found"
    default_message = "no such file: check the path"


class UnsupportedType(BadInput):
    code = "unsupported_type"
    default_message = "not a supported document: send a PDF, PNG, JPEG, TIFF, WebP or BMP file"


class CorruptDocument(BadInput):
    code = "corrupt_document"
    default_message = "the document is damaged or truncated and cannot be read"


class EncryptedDocument(BadInput):
    code = "encrypted_document"
    default_message = "the PDF is encrypted; remove the password and send it again"


class FileTooLarge(BadInput):
    code = "file_too_large"
    default_message = "the file is larger than the size limit"


class TooManyPages(BadInput):
    code = "too_many_pages"
    default_message = "the document has more pages than the page limit"


class PageTooLarge(BadInput):
    code = "page_too_large"
    default_message = "a page is larger than the pixel limit"


class PathNotAllowed(BadInput):
    code = "path_not_allowed"
    default_message = "the path leads out of your import folder (a link, '..' or an absolute path)"


class NotRegularFile(BadInput):
    code = "not_regular_file"
    default_message = "not a regular file (a FIFO, a socket or a device): not read"


class Transient(ScanragError):
    """A passing fault (a service down, a timeout): retrying later may succeed."""

    code = "transient"
    category = Category.TRANSIENT
    default_message = "a temporary fault; try again later"
    retry_after: int | None = None  # seconds a client should wait before trying again, if known


class DatabaseBusy(Transient):
    """Another process held the database's write lock past the busy timeout."""

    code = "database_busy"
    default_message = "the database is busy (another process holds its write lock); try again"
    retry_after = 5


class StorageFull(Transient):
    """The disk (or quota) holding the blobs or the database is full."""

    code = "storage_full"
    default_message = (
        "the server's storage is full; nothing was stored: try again once space is freed"
    )


class ModelError(ScanragError):
    """A model file is missing, damaged, or cannot run on the chosen device."""

    code = "model_error"
    default_message = "a model could not be loaded"


def as_error(exc: BaseException) -> ScanragError:
    """``exc`` when it is one of ours, else an internal error naming it: what the CLI, the
    ingest and the tasks record for a bug or an unexpected fault."""
    if isinstance(exc, ScanragError):
        return exc
    return ScanragError(f"internal error: {exc}")
