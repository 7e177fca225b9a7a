"""Narrowing the recognizer's output layer to an alphabet: fewer classes, less work per step.

PP-OCRv6's recognizer ends in a 120 x 18,710 projection and a softmax over its whole charset
(Latin, Greek, CJK, kana...). For documents in western scripts nearly all of those classes are
never the answer, yet every time step of every line pays for them: about a sixth of the
recognizer's time, and the CTC decoder's argmax over 18,710 classes. Keeping only the columns
of the characters wanted is exact for them (the same logits) and can only stop the net from
answering a character the documents do not use.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from core.errors import ModelError
from core.vocab import Alphabet
from models.derived import cached_derivation

# code point ranges of the "western" alphabet: Latin (with accents), Greek, punctuation,
# currency, letterlike and number forms, arrows, maths, box drawing, shapes, check boxes
_WESTERN = [
    (0x0000, 0x024F),
    (0x0370, 0x03FF),
    (0x1E00, 0x1EFF),
    (0x2000, 0x22FF),
    (0x2460, 0x27BF),
]


def in_alphabet(alphabet: Alphabet) -> Callable[[str], bool]:
    """Whether a charset entry belongs to ``alphabet``."""
    if alphabet == "all":
        return lambda ch: True
    if alphabet != "western":
        raise ModelError(f"unknown alphabet {alphabet!r}: use western or all")
    return lambda ch: len(ch) == 1 and any(lo <= ord(ch) <= hi for lo, hi in _WESTERN)


def narrowed_model(
    path: Path, alphabet: Alphabet, charset: list[str] | None = None
) -> tuple[bytes, list[str]]:
    """The recognizer at ``path`` with its output layer cut to ``alphabet``, serialised, and
    its charset (CTC blank first and space last stay, as the decoder expects). The charset is
    ``charset`` when given (a model shipped with a dictionary file), else the model's
    ``character`` metadata. Kept in the model cache (models/derived.py)."""
    given = hashlib.sha256("\n".join(charset or []).encode()).hexdigest()
    # bump "narrow-v1" whenever _narrowed_model changes: the cache keys on it, not on the code
    recipe = f"narrow-v1|{alphabet}|{charset is not None}|{given}"
    model, chars = cached_derivation(
        "rec-narrowed", path, recipe, lambda: _narrowed_model(path, alphabet, charset)
    )
    return model, list(chars)


def _narrowed_model(
    path: Path, alphabet: Alphabet, charset: list[str] | None
) -> tuple[bytes, list[str]]:
    # imported here: onnx costs 0.5 s (ml_dtypes), paid only by a process that loads models
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    meta = {p.key: p for p in model.metadata_props}
    if charset is None:
        if "character" not in meta:
            raise ModelError("recognizer has no 'character' metadata: not a PP-OCRv6 rec model")
        charset = meta["character"].value.splitlines()
    if alphabet == "all":
        return model.SerializeToString(), charset
    classes = len(charset) + 2
    wanted = in_alphabet(alphabet)
    keep = [0] + [k + 1 for k, ch in enumerate(charset) if wanted(ch)] + [classes - 1]
    inits = {t.name: t for t in model.graph.initializer}

    def constant(name: str) -> np.ndarray | None:
        return numpy_helper.to_array(inits[name]) if name in inits else None

    nodes = list(model.graph.node)
    for n, node in enumerate(nodes):
        weight = constant(node.input[1]) if node.op_type == "MatMul" else None
        if weight is None or weight.shape[-1] != classes:
            continue
        adds = [m for m in nodes[n + 1 :] if m.op_type == "Add" and node.output[0] in m.input]
        bias_name = next((i for m in adds for i in m.input if i in inits), None)
        bias = constant(bias_name) if bias_name else None
        if bias is None or bias.shape != (classes,):
            break
        inits[node.input[1]].CopyFrom(numpy_helper.from_array(weight[:, keep], node.input[1]))
        inits[bias_name].CopyFrom(numpy_helper.from_array(bias[keep], bias_name))
        for output in model.graph.output:
            dims = output.type.tensor_type.shape.dim
            if dims and dims[-1].dim_value == classes:
                dims[-1].dim_value = len(keep)
        narrowed = [charset[k - 1] for k in keep[1:-1]]
        if "character" in meta:
            meta["character"].value = "\n".join(narrowed)
        return model.SerializeToString(), narrowed
    raise ModelError("recognizer's output layer not found: cannot narrow it to an alphabet")
