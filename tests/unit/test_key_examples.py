"""Every example API key a person reads (README, the web app, the Python client's docstring)
has the prefix `scanrag keys create` gives keys (``storage.accounts.KEY_PREFIX``)."""

from __future__ import annotations

import re
from pathlib import Path

from storage.accounts import KEY_PREFIX

ROOT = Path(__file__).resolve().parents[2]
SHOWN = ["README.md", "api/web/index.html", "api/web/app.js", "api/client.py", "docs"]
# an example key: sk, a separator, then an ellipsis or a placeholder word
EXAMPLE = re.compile(r"\bsk([-_])(?:\.\.\.|…|<|[A-Z]{3,})")


def test_example_keys_have_the_real_prefix() -> None:
    assert KEY_PREFIX == "sk_"
    seen = []
    for name in SHOWN:
        path = ROOT / name
        for file in sorted(path.rglob("*")) if path.is_dir() else [path]:
            if file.suffix not in {".md", ".html", ".js", ".py"}:
                continue
            for match in EXAMPLE.finditer(file.read_text(encoding="utf-8")):
                seen.append((file.relative_to(ROOT).as_posix(), match.group(0)))
    assert seen, "no example key found: the pattern no longer matches how they are written"
    wrong = [(file, text) for file, text in seen if not text.startswith(KEY_PREFIX)]
    assert wrong == [], wrong
