"""PP-OCRv6 small CTC recognizer: line crops in, text with per-character confidences out.

Crops are warped straight from the page quad to the 48-pixel model height. Lines of many pages
are recognised together, sorted and batched by width so little compute goes to padding. On a
GPU (``fixed_shapes``) every run is instead padded to the full batch and to one of a few widths,
each run by a session of its own (models.ort_sessions.SessionPerShape says why).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from core.vocab import Alphabet
from models.ctc import DecodedLine, ctc_greedy_decode
from models.loaded import load_once
from models.net_input import bgr_chw
from models.ort_sessions import Session, make_session, make_shaped_session
from models.rec_head import narrowed_model
from models.weights import PPOCR_V6_REC, PPOCR_V6_REC_TINY, PPOCR_V6_TINY_DICT, verified_path

REC_HEIGHT = 48
STRIDE = 8  # input pixels per CTC time step
MIN_WIDTH = 64  # narrow crops are padded this far: the net needs some context around a glyph
# the widths a GPU's runs are padded to (crops are at most 4096 wide): few shapes, so few
# sessions, each rung 1.5x the last, so at most a third of a crop's columns are padding. Read on a
# CPU, FUNSD and SROIE dev come out as with tight padding (rungs 2x apart cost SROIE dev 0.5
# points of WER; docs/BENCHMARKS.md, issue 15, tenth session)
WIDTH_LADDER = (96, 144, 224, 320, 480, 720, 1080, 1600, 2400, 4096)

RecSize = Literal["small", "tiny"]


@dataclass(frozen=True)
class RecSpec:
    """Which recognizer, where: ``size`` (PP-OCRv6 small or tiny) on ``device`` with
    ``threads`` onnxruntime threads, ``batch`` crops a run at most, runs capped at
    ``max_columns`` (crops x padded width; 0: no cap), answering ``alphabet``; with
    ``fixed_shapes`` every run is ``batch`` crops of a WIDTH_LADDER width (for a GPU)."""

    device: str
    threads: int
    batch: int
    max_columns: int = 0
    alphabet: Alphabet = "western"
    size: RecSize = "small"
    fixed_shapes: bool = False


@dataclass(frozen=True)
class Recognition:
    """A decoded crop and the width (model pixels) its content occupied."""

    line: DecodedLine
    content_width: float


def crop_quad(image: np.ndarray, quad: np.ndarray, max_width: int = 4096) -> np.ndarray:
    """The region inside ``quad`` (tl, tr, br, bl) warped to a REC_HEIGHT-high, upright crop."""
    tl, tr, br, bl = quad.astype(np.float32)
    w = max(float(np.linalg.norm(tr - tl)), float(np.linalg.norm(br - bl)))
    h = max(float(np.linalg.norm(bl - tl)), float(np.linalg.norm(br - tr)), 1.0)
    out_w = int(np.clip(round(REC_HEIGHT * w / h), 8, max_width))
    dst = np.array([[0, 0], [out_w, 0], [out_w, REC_HEIGHT], [0, REC_HEIGHT]], dtype=np.float32)
    m = cv2.getPerspectiveTransform(np.stack([tl, tr, br, bl]), dst)
    # bilinear even when enlarging small print: bicubic's ringing read worse on the dev splits
    return cv2.warpPerspective(
        image, m, (out_w, REC_HEIGHT), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )


def _normalise(crops: list[np.ndarray], width: int) -> np.ndarray:
    batch = np.zeros((len(crops), 3, REC_HEIGHT, width), dtype=np.float32)
    for k, crop in enumerate(crops):
        w = crop.shape[1]
        # scaled to [-1, 1]; padding stays 0
        batch[k, :, :, :w] = bgr_chw(crop, 127.5, 1.0 / 127.5)
    return batch


def padded_width(width: int) -> int:
    """The width a crop ``width`` pixels wide is read at: whole CTC steps, MIN_WIDTH at least."""
    return max(MIN_WIDTH, -(-width // STRIDE) * STRIDE)


def ladder_width(width: int) -> int:
    """The WIDTH_LADDER width a crop ``width`` wide is padded to in a fixed-shape run (a crop
    wider than the ladder keeps its width)."""
    return next((w for w in WIDTH_LADDER if w >= width), width)


def fixed_batches(widths: list[int], batch: int) -> list[tuple[int, int]]:
    """Sorted crop widths split into runs ``[start, end)`` of at most ``batch`` crops sharing a
    ladder width: each run is padded to ``batch`` crops of that width anyway, so fuller runs and
    fewer of them cost least."""
    spans: list[tuple[int, int]] = []
    start = 0
    for end in range(1, len(widths) + 1):
        last = end == len(widths)
        if last or end - start == batch or ladder_width(widths[end]) != ladder_width(widths[start]):
            spans.append((start, end))
            start = end
    return spans


def plan_batches(
    widths: list[int], max_batch: int, overhead: int = 512, max_columns: int = 0
) -> list[tuple[int, int]]:
    """Split sorted crop widths into batches ``[start, end)`` with the least padded work.

    A batch costs its size times its widest crop (every crop is padded to it) plus a fixed
    ``overhead`` (pixels' worth of per-run cost); a dynamic programme finds the cheapest split.
    ``max_columns`` (0: no cap) bounds a batch's padded width summed over its crops: a crop
    wider than that runs alone.
    """
    n = len(widths)
    best = [0.0] + [float("inf")] * n
    cut = [0] * (n + 1)
    for end in range(1, n + 1):
        for start in range(end - 1, max(0, end - max_batch) - 1, -1):
            size = (end - start) * widths[end - 1]
            if max_columns and size > max_columns and start < end - 1:
                break  # widths are sorted: a larger batch ending here is wider still
            cost = best[start] + size + overhead
            if cost < best[end]:
                best[end], cut[end] = cost, start
    spans = []
    end = n
    while end > 0:
        spans.append((cut[end], end))
        end = cut[end]
    return spans[::-1]


class TextRecognizer:
    """Reads line crops. The session is built once; ``recognize`` batches by width."""

    def __init__(
        self,
        session: Session,
        charset: list[str],
        batch: int,
        max_columns: int = 0,
        fixed_shapes: bool = False,
    ) -> None:
        self.session = session
        self.charset = charset
        self.batch = batch
        self.max_columns = max_columns
        self.fixed_shapes = fixed_shapes
        self.input_name = session.get_inputs()[0].name

    @classmethod
    def load(cls, spec: RecSpec) -> TextRecognizer:
        """Load the checksummed PP-OCRv6 recognizer ``spec`` names, its output layer narrowed to
        its alphabet; the charset comes from the model's metadata (small) or the dictionary
        file shipped beside it (tiny)."""
        if spec.size == "tiny":
            path = verified_path(PPOCR_V6_REC_TINY)
            chars = verified_path(PPOCR_V6_TINY_DICT).read_text(encoding="utf-8").splitlines()
            model, charset = narrowed_model(path, spec.alphabet, chars)
        else:
            path = verified_path(PPOCR_V6_REC)
            model, charset = narrowed_model(path, spec.alphabet)
        session: Session
        if spec.fixed_shapes:
            session = make_shaped_session(
                path, device=spec.device, threads=spec.threads, model=model, limit=len(WIDTH_LADDER)
            )
        else:
            session = make_session(path, device=spec.device, threads=spec.threads, model=model)
        return cls(session, charset, spec.batch, spec.max_columns, spec.fixed_shapes)

    def recognize(self, crops: list[np.ndarray]) -> list[Recognition]:
        """Decode every crop (REC_HEIGHT-high RGB uint8); results in input order."""
        results: list[Recognition | None] = [None] * len(crops)
        order = sorted(range(len(crops)), key=lambda i: crops[i].shape[1])
        widths = [padded_width(crops[i].shape[1]) for i in order]
        if self.fixed_shapes:
            spans = fixed_batches(widths, self.batch)
        else:
            spans = plan_batches(widths, self.batch, max_columns=self.max_columns)
        for start, end in spans:
            idx = order[start:end]
            run_width = ladder_width(widths[start]) if self.fixed_shapes else widths[end - 1]
            x = _normalise([crops[i] for i in idx], run_width)
            if self.fixed_shapes and len(idx) < self.batch:  # blank rows: one shape per width
                x = np.concatenate([x, np.zeros((self.batch - len(idx), *x.shape[1:]), x.dtype)])
            probs = self.session.run(None, {self.input_name: x})[0][: len(idx)]
            # time steps past a crop's own width are padding: never decode them
            lengths = np.array(widths[start:end]) // STRIDE
            decoded = ctc_greedy_decode(probs, self.charset, lengths)
            for i, line in zip(idx, decoded, strict=True):
                results[i] = Recognition(line, float(crops[i].shape[1]))
        return [r for r in results if r is not None]


@dataclass(frozen=True)
class CascadeParams:
    """When the fast recognizer's reading stands.

    A word the fast net reads with every character, and the spaces on either side, at
    ``min_conf`` or more, and no character held ``max_run`` time steps or more, keeps that
    reading; the others are cut out of the line (in the middle of the gaps to their
    neighbours) and read again by the accurate net. A line is read again whole when the fast
    net read nothing, when its unsure words take more than ``max_unsure`` of its width, or when
    the accurate net reads a word less than ``min_similar`` like the fast one (a cut in the wrong
    place). Per word rather than per line because one unsure character in a line of 80 (a
    soft space, a dash) sent most of a page of running text back to the accurate net.

    A space counts as unsure only below ``min_space_conf``: its confidence says where a word
    ends, not what its letters are, and on justified and letter-spaced print tiny is often
    unsure of the spaces between words it reads right (on 13 layout dev pages 78% of its
    unsure characters were spaces). Re-reading the words beside them cost the accurate net
    109k of those pages' columns and 0.3 of the recognizer's CPU; at 0.7 it reads 31k, 3 of
    1294 lines read differently, layout dev CPU per page -26% at the same CER, FUNSD and SROIE
    dev unchanged (docs/BENCHMARKS.md, issue 36).

    ``probe`` lines spread over a call are read by the fast net first, and the accurate net
    reads the whole call unless the probed lines' unsure words take at most ``max_unsure`` of
    their width and at least ``min_long`` of them are paragraph lines of ``long_chars``
    characters or more. The first sends noisy scans to small (tiny is unsure of most of their
    text, and reading twice would cost more than it saves); the second keeps tiny to pages of
    running text: on forms and receipts (short fields, low resolution) tiny is sometimes sure
    and wrong (doubled letters merged: "Street" -> "Stret"), and it saved them only 3-5% of the
    time. The paragraph rule is the layout gate's (pipelines.regions: half the lines of 20+
    characters), which separates the dev splits' running-text pages from their forms and
    receipts. A long run is what a merged double letter looks like ("formally" read
    "formaly": its one "l" held 4 steps where a letter holds 1-2).

    Before the probe, a call where fewer than ``min_wide`` of the crops are ``wide_px`` or
    wider (at the crops' 48-pixel height, ~20 characters: print runs 15-27 pixels a
    character) goes to the accurate net unprobed: its lines are too short for the paragraph
    rule to pass. On the dev splits this sends 33 of 51 FUNSD and 54 of 69 SROIE calls
    straight to small and no call the probe would have let through (docs/BENCHMARKS.md).
    """

    min_conf: float = 0.9
    min_space_conf: float = 0.7
    max_run: int = 4
    probe: int = 16
    max_unsure: float = 0.5
    min_long: float = 0.5
    long_chars: int = 20
    min_similar: float = 0.34
    min_wide: float = 0.2
    wide_px: int = 400


Span = tuple[int, int, int, int]  # first character, end character, x0, x1 (crop pixels)


def unsure_spans(line: DecodedLine, width: int, params: CascadeParams) -> list[Span] | None:
    """The runs of words of ``line`` (read from a crop ``width`` pixels wide) the fast net is
    unsure of, each with the crop columns to read again; None when the line must be read whole
    (an empty reading)."""
    text, conf, steps = line.text, line.char_conf, line.char_steps
    if not text:
        return None
    bad = [
        c < params.min_space_conf
        if ch == " "
        else c < params.min_conf or e - s + 1 >= params.max_run
        for ch, c, (s, e) in zip(text, conf, steps, strict=True)
    ]
    words: list[tuple[int, int]] = []  # [start, end) of each word
    i = 0
    while i < len(text):
        if text[i] == " ":
            i += 1
            continue
        j = i
        while j < len(text) and text[j] != " ":
            j += 1
        words.append((i, j))
        i = j

    def cut(left: int, right: int) -> int:
        # the middle of the gap between two words, on a time-step boundary
        return (steps[left][1] + 1 + steps[right][0]) // 2 * STRIDE

    spans: list[Span] = []
    prev_bad = False
    for k, (a, b) in enumerate(words):
        unsure = any(bad[max(0, a - 1) : b + 1])  # the word and the spaces beside it
        if unsure:
            x1 = width if k == len(words) - 1 else cut(b - 1, words[k + 1][0])
            if prev_bad:
                spans[-1] = (spans[-1][0], b, spans[-1][2], x1)
            else:
                x0 = 0 if k == 0 else cut(words[k - 1][1] - 1, a)
                spans.append((a, b, x0, x1))
        prev_bad = unsure
    return spans


def _unsure_width(width: int, spans: list[Span] | None) -> int:
    """Columns of a crop ``width`` wide to read again (all of them for None)."""
    return width if spans is None else sum(x1 - x0 for *_, x0, x1 in spans)


def _similarity(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def splice(line: DecodedLine, spans: list[Span], readings: list[DecodedLine]) -> DecodedLine:
    """``line`` with the characters of each span replaced by the reading of its columns (time
    steps moved to the line's), spaces left doubled or at the ends by an empty reading
    dropped."""
    chars: list[str] = []
    confs: list[float] = []
    steps: list[tuple[int, int]] = []
    last = 0
    for (a, b, x0, _), part in zip(spans, readings, strict=True):
        chars += line.text[last:a]
        confs += line.char_conf[last:a]
        steps += line.char_steps[last:a]
        off = x0 // STRIDE
        chars += part.text
        confs += part.char_conf
        steps += [(s + off, e + off) for s, e in part.char_steps]
        last = b
    chars += line.text[last:]
    confs += line.char_conf[last:]
    steps += line.char_steps[last:]
    out: list[tuple[str, float, tuple[int, int]]] = []
    for item in zip(chars, confs, steps, strict=True):
        if item[0] == " " and (not out or out[-1][0] == " "):
            continue  # an empty reading left two spaces side by side, or one at the start
        out.append(item)
    while out and out[-1][0] == " ":
        out.pop()
    return DecodedLine(
        "".join(c for c, _, _ in out), tuple(c for _, c, _ in out), tuple(s for _, _, s in out)
    )


class CascadeRecognizer:
    """PP-OCRv6 tiny first, small for the words tiny is unsure of: clean print at tiny's cost,
    small's reading everywhere else (the same ``recognize`` as TextRecognizer)."""

    def __init__(
        self, fast: TextRecognizer, accurate: TextRecognizer, params: CascadeParams
    ) -> None:
        self.fast = fast
        self.accurate = accurate
        self.params = params

    def recognize(self, crops: list[np.ndarray]) -> list[Recognition]:
        """Decode every crop; results in input order."""
        n = len(crops)
        if n == 0:
            return []
        p = self.params
        if sum(crop.shape[1] >= p.wide_px for crop in crops) < p.min_wide * n:
            return self.accurate.recognize(crops)  # short lines: a form's or a receipt's
        step = max(1, n // p.probe)
        probe = list(range(0, n, step))[: p.probe]
        readings: dict[int, Recognition] = dict(
            zip(probe, self.fast.recognize([crops[i] for i in probe]), strict=True)
        )
        probed = {i: unsure_spans(readings[i].line, crops[i].shape[1], p) for i in probe}
        unsure = sum(_unsure_width(crops[i].shape[1], probed[i]) for i in probe)
        unsure_share = unsure / max(1, sum(crops[i].shape[1] for i in probe))
        long_share = sum(len(r.line.text) >= p.long_chars for r in readings.values()) / len(probe)
        if unsure_share > p.max_unsure or long_share < p.min_long:
            return self.accurate.recognize(crops)
        rest = [i for i in range(n) if i not in readings]
        readings.update(zip(rest, self.fast.recognize([crops[i] for i in rest]), strict=True))
        whole: list[int] = []
        parts: list[tuple[int, list[Span]]] = []
        for i in range(n):
            width = crops[i].shape[1]
            line_spans = probed[i] if i in probed else unsure_spans(readings[i].line, width, p)
            if line_spans is None or _unsure_width(width, line_spans) > p.max_unsure * width:
                whole.append(i)
            elif line_spans:
                parts.append((i, line_spans))
        pieces = [crops[i][:, x0:x1] for i, spans in parts for *_, x0, x1 in spans]
        again = self.accurate.recognize([crops[i] for i in whole] + pieces)
        readings.update(zip(whole, again, strict=False))
        k = len(whole)
        misread: list[int] = []
        for i, spans in parts:
            got = [r.line for r in again[k : k + len(spans)]]
            k += len(spans)
            line = readings[i].line
            if any(
                _similarity(g.text, line.text[a:b]) < p.min_similar
                for g, (a, b, _, _) in zip(got, spans, strict=True)
            ):
                misread.append(i)  # read whole below: the cut fell inside a word
            else:
                readings[i] = Recognition(splice(line, spans, got), readings[i].content_width)
        readings.update(
            zip(misread, self.accurate.recognize([crops[i] for i in misread]), strict=True)
        )
        return [readings[i] for i in range(n)]


def get_recognizer(spec: RecSpec) -> TextRecognizer:
    """The process-wide recognizer for ``spec``, loaded on first use."""
    return load_once(("recognizer", spec), lambda: TextRecognizer.load(spec))
