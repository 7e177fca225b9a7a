"""One error hierarchy for scanrag.

Every error has a category (bad input / transient / internal), a stable machine ``code``, a
``message`` written for the user, and what each edge answers for it: ``http_status`` (the API)
and ``exit_code`` (the CLI), class attributes set where the code is defined (OCRmyPDF's way).
Defaults follow the category: bad input 422 / exit 1, transient 503 / exit 3, internal 500 /
exit 3. Each ``code`` is defined by exactly one class. Tasks record the code on the document row.
"""

from __future__ import annotations

from enum import Enum, IntEnum


class Category(str, Enum):
    """Whose problem an error is: the caller's input, a passing fault, or ours."""

    BAD_INPUT = "bad_input"
    TRANSIENT = "transient"
    INTERNAL = "internal"


class ExitCode(IntEnum):
    """The CLI's exit codes (a supervisor does not restart a worker that exited INTERNAL)."""

    OK = 0
    BAD_INPUT = 1  # at least one input was refused; the others were processed
    INTERNAL = 3  # scanrag itself failed (a model could not load, a database fault, ...)


class ScanragError(Exception):
    """Base of every error scanrag raises on purpose."""

    code: str = "internal"
    category: Category = Category.INTERNAL
    default_message: str = "internal error"
    http_status: int = 500
    exit_code: int = ExitCode.INTERNAL

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
    http_status = 422
    exit_code = ExitCode.BAD_INPUT


class InvalidRequest(BadInput):
    """A request (an API body, a CLI request file) without the shape that is documented."""

    code = "invalid_request"
    default_message = "the request does not have the shape the API documents"


class EmptyFile(BadInput):
    code = "empty_file"
    http_status = 400
    default_message = "the file is empty (0 bytes)"


class FileNotFound(BadInput):
    code = "file_not_found"
    default_message = "no such file: check the path"


class UnsupportedType(BadInput):
    code = "unsupported_type"
    http_status = 415
    default_message = "not a supported document: send a PDF, PNG, JPEG, TIFF, WebP or BMP file"


class CorruptDocument(BadInput):
    code = "corrupt_document"
    default_message = "the document is damaged or truncated and cannot be read"


class EncryptedDocument(BadInput):
    code = "encrypted_document"
    default_message = "the PDF is encrypted; remove the password and send it again"


class FileTooLarge(BadInput):
    code = "file_too_large"
    http_status = 413
    default_message = "the file is larger than the size limit"


class TooManyPages(BadInput):
    code = "too_many_pages"
    default_message = "the document has more pages than the page limit"


class PageTooLarge(BadInput):
    code = "page_too_large"
    default_message = "a page is larger than the pixel limit"


class PathNotAllowed(BadInput):
    code = "path_not_allowed"
    http_status = 403
    default_message = "the path leads out of your import folder (a link, '..' or an absolute path)"


class NotRegularFile(BadInput):
    code = "not_regular_file"
    default_message = "not a regular file (a FIFO, a socket or a device): not read"


class Transient(ScanragError):
    """A passing fault (a service down, a timeout): retrying later may succeed."""

    code = "transient"
    category = Category.TRANSIENT
    default_message = "a temporary fault; try again later"
    http_status = 503
    retry_after: int | None = None  # seconds a client should wait before trying again, if known


class DatabaseBusy(Transient):
    """Another process held the database's write lock past the busy timeout."""

    code = "database_busy"
    default_message = "the database is busy (another process holds its write lock); try again"
    retry_after = 5


class StorageFull(Transient):
    """The disk (or quota) holding the blobs or the database is full."""

    code = "storage_full"
    http_status = 507
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
