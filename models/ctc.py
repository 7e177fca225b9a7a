"""Greedy CTC decoding with per-character confidences and character positions.

The PP-OCRv6 recognizer outputs softmax probabilities ``[N, T, C]``: index 0 is the CTC blank,
``1..len(charset)`` the charset in order, the last index a space. Each time step covers
``stride`` pixels of the (48-pixel-high) input, which gives every character an x-position and so
word boxes without a second model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DecodedLine:
    """One decoded line: text, per-character confidences and time-step spans."""

    text: str
    char_conf: tuple[float, ...]
    # (first, last) time step of each character's run, same length as ``text``
    char_steps: tuple[tuple[int, int], ...]

    @property
    def confidence(self) -> float:
        return float(np.mean(self.char_conf)) if self.char_conf else 0.0


@dataclass(frozen=True)
class WordSpan:
    """A word found in a decoded line, with its extent in input pixels (x0, x1)."""

    text: str
    x0: float
    x1: float
    confidence: float


# A space is read between two characters when the space class reaches this probability in the
# blank steps between them, even where blank wins every step: the model often loses the narrow
# word gaps of small print ("NEWPORTK.S."). Tuned on the dev splits (docs/benchmarks-history.md).
SPACE_PROBABILITY = 0.1


def ctc_greedy_decode(
    probs: np.ndarray,
    charset: list[str],
    lengths: np.ndarray | None = None,
    space_probability: float = SPACE_PROBABILITY,
) -> list[DecodedLine]:
    """Decode ``probs [N, T, C]``; ``lengths`` (time steps holding content) cut off padding.

    Greedy (best class per step), except that a gap between two characters whose space
    probability reaches ``space_probability`` (0 turns this off) is read as a space.
    """
    if probs.ndim != 3:
        raise ValueError(f"expected [N, T, C] probabilities, got shape {probs.shape}")
    n, t_max, c = probs.shape
    if c != len(charset) + 2:
        raise ValueError(f"{c} classes do not fit a charset of {len(charset)} (+blank +space)")
    symbols = ["", *charset, " "]
    space = c - 1
    best = probs.argmax(axis=2)
    best_p = probs.max(axis=2)
    out: list[DecodedLine] = []
    for i in range(n):
        t_len = t_max if lengths is None else int(min(t_max, max(1, lengths[i])))
        idx = best[i, :t_len]
        conf = best_p[i, :t_len]
        # a run starts where the class changes; keep non-blank runs
        starts = np.flatnonzero(np.r_[True, idx[1:] != idx[:-1]])
        ends = np.r_[starts[1:], t_len] - 1
        chars: list[str] = []
        confs: list[float] = []
        steps: list[tuple[int, int]] = []
        for s, e in zip(starts, ends, strict=True):
            k = int(idx[s])
            if k == 0:
                continue
            if (
                space_probability
                and chars
                and chars[-1] != " "
                and k != space
                and s > steps[-1][1] + 1
            ):
                gap = probs[i, steps[-1][1] + 1 : s, space]
                g = int(gap.argmax())
                if gap[g] >= space_probability:
                    chars.append(" ")
                    confs.append(float(gap[g]))
                    steps.append((steps[-1][1] + 1 + g,) * 2)
            chars.append(symbols[k])
            confs.append(float(conf[s : e + 1].max()))
            steps.append((int(s), int(e)))
        # trim spaces at the ends: they carry no text
        while chars and chars[0] == " ":
            chars.pop(0), confs.pop(0), steps.pop(0)
        while chars and chars[-1] == " ":
            chars.pop(), confs.pop(), steps.pop()
        out.append(DecodedLine("".join(chars), tuple(confs), tuple(steps)))
    return out


def word_spans(line: DecodedLine, stride: float, content_width: float) -> list[WordSpan]:
    """Split a decoded line at spaces; each word's x-extent (input pixels) from its time steps.

    A word runs from half a character pitch before its first character's peak to half a pitch
    after its last, clipped to the content and to the neighbouring spaces.
    """
    words: list[WordSpan] = []
    text, steps, confs = line.text, line.char_steps, line.char_conf
    i = 0
    n = len(text)
    while i < n:
        if text[i] == " ":
            i += 1
            continue
        j = i
        while j < n and text[j] != " ":
            j += 1
        first, last = steps[i][0], steps[j - 1][1]
        centres = [(s + e + 1) / 2 * stride for s, e in steps[i:j]]
        pitch = (centres[-1] - centres[0]) / (j - i - 1) if j - i > 1 else 2.0 * stride
        x0 = min(first * stride, centres[0] - pitch / 2)
        x1 = max((last + 1) * stride, centres[-1] + pitch / 2)
        if i > 0:  # never reach past the space before
            x0 = max(x0, (steps[i - 1][1] + 1) * stride)
        if j < n:
            x1 = min(x1, steps[j][0] * stride)
        x0 = max(0.0, x0)
        x1 = min(content_width, max(x1, x0 + 1.0))
        words.append(WordSpan(text[i:j], x0, x1, float(np.mean(confs[i:j]))))
        i = j
    return words
