"""File names from multipart parts: as sent, in any script, and never a path or a control code."""

from __future__ import annotations

import pytest

from api.uploads import content_disposition, safe_filename


@pytest.mark.parametrize(
    ("header", "want"),
    [
        ('form-data; name="files"; filename="résumé_中文.png"', ("files", "résumé_中文.png")),
        (
            'form-data; name="files"; filename="cv.png"; filename*=UTF-8\'\'%E5%B1%A5.png',
            ("files", "履.png"),
        ),
        ("form-data; name=\"files\"; filename*=utf-8''na%C3%AFve.pdf", ("files", "naïve.pdf")),
        (
            'form-data; name="files"; filename="a \\"quoted\\" name.png"',
            ("files", 'a "quoted" name.png'),
        ),
        ('form-data; name="metadata"', ("metadata", None)),
    ],
)
def test_content_disposition(header: str, want: tuple[str, str | None]) -> None:
    assert content_disposition(header) == want


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("résumé_中文.png", "résumé_中文.png"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\ann\\scan.pdf", "scan.pdf"),
        ("bad\r\nname\x00.png", "badname.png"),
        ("..", "upload"),
        ("", "upload"),
        ("x" * 600 + ".png", "x" * 255),
    ],
)
def test_safe_filename(sent: str, kept: str) -> None:
    assert safe_filename(sent) == kept
