"""Searchable PDF: scanrag (`scanrag ocr --format pdf`) against OCRmyPDF on the same files.

For FUNSD dev (PNG), SROIE dev (JPEG) and the layout dev scans (image-only PDFs):
pages/s (ours: model load, OCR and PDF writing in one process, as `scanrag ocr --format pdf`
does it; OCRmyPDF: its defaults, ``--jobs`` = cores, one call per file, as it is used), the
accuracy of the text ``pdftotext`` gets out of each output against the ground truth (loose CER
and bag-of-words F1, shared/tools/ocr_score.py), and the output size against the input.
Self-consistency of ours: ``pdftotext -raw`` (content order) against our page text (loose CER)
and ``pdftotext -bbox`` word boxes against ours (centre inside our box, width within 10%).
``--pages300`` instead writes the layer of a synthetic 300-page scan and prints peak RSS
after 30, 100 and 300 pages (the PDF is written page by page: memory stays flat).

    .venv/bin/python bench/pdf.py --ocrmypdf /work/ocrmypdf-venv/bin/ocrmypdf --limit 6
    .venv/bin/python bench/pdf.py --pages300

PDF/A-2b (``scanrag ocr --format pdf --pdfa``): ``--verapdf DIR_OR_CMD`` writes our PDFs with
``--pdfa`` and validates each with veraPDF (flavour 2b; a folder holding the veraPDF CLI's jars,
or its ``verapdf`` script, or a command); ``--preflight DIR`` does the same with Apache PDFBox
Preflight (Debian's libpdfbox2-java: a PDF/A-1b validator, so its findings that only PDF/A-1
has are not counted: ICC profile newer than v2, ``pdfaid:part`` not 1, transparency). Either
adds the sets ``tiff`` (the first FUNSD pages as TIFF) and ``rotate90`` (the first layout dev
PDFs with ``/Rotate 90`` on every page) and the columns pdfa_pass / pdfa_fail (and the most
frequent failed rules).

    .venv/bin/python bench/pdf.py --verapdf /work/verapdf/lib --limit 6
    .venv/bin/python bench/pdf.py --preflight /usr/share/java --limit 6
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from html import unescape
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import SHARED, cpu_class, peak_rss_mb, scorer, table

_WORD = re.compile(
    r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">(.*?)</word>'
)


def pdftotext(path: Path, raw: bool = False) -> list[str]:
    """Each page's text as poppler's ``pdftotext`` extracts it (``raw``: content order)."""
    args = ["pdftotext", "-enc", "UTF-8", *(["-raw"] if raw else []), str(path), "-"]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    pages = out.split("\f")
    return pages[:-1] if pages and not pages[-1].strip() else pages


def pdftotext_words(path: Path) -> list[list[tuple[str, tuple[float, float, float, float]]]]:
    """Each page's words with their boxes (points, from the shown page's top left), as
    ``pdftotext -bbox`` gives them."""
    args = ["pdftotext", "-bbox", "-enc", "UTF-8", str(path), "-"]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    pages = []
    for chunk in out.split("<page ")[1:]:
        words = []
        for m in _WORD.finditer(chunk):
            box = (float(m[1]), float(m[2]), float(m[3]), float(m[4]))
            words.append((unescape(m[5]), box))
        pages.append(words)
    return pages


def shown_words(page: Any, shown_w: float, shown_h: float) -> list[tuple[str, Any]]:
    """A PageResult's words with their boxes moved to the shown page (points from the top
    left of a page ``shown_w`` x ``shown_h`` points), where ``pdftotext -bbox`` puts them."""
    from pipelines.pdf_layer import shown_matrix

    m = shown_matrix(page, shown_w, shown_h)
    out = []
    for w in page.words:
        x0, y0, x1, y1 = w.bbox
        pts = [
            (m[0] * x + m[2] * y + m[4], m[1] * x + m[3] * y + m[5])
            for x, y in ((x0, y0), (x1, y0), (x0, y1), (x1, y1))
        ]
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        out.append((w.text, (min(xs), min(ys), max(xs), max(ys))))
    return out


def box_agreement(
    ours: list[tuple[str, Any]], theirs: list[tuple[str, Any]], vertical: bool = False
) -> tuple[int, int]:
    """(words of ours whose extracted twin's centre lies in our box and whose length along
    the text (its width; its height where the text runs ``vertical`` on the shown page) is
    within 10% of ours, words of ours). Each of our words is paired with the nearest unpaired
    extracted word of the same text (the extractor's order may differ from ours)."""
    free: dict[str, list[Any]] = {}
    for text, box in theirs:
        free.setdefault(text, []).append(box)
    good = 0
    for text, (ax0, ay0, ax1, ay1) in ours:
        candidates = free.get(text)
        if not candidates:
            continue
        acx, acy = (ax0 + ax1) / 2, (ay0 + ay1) / 2
        best = min(
            candidates,
            key=lambda b: ((b[0] + b[2]) / 2 - acx) ** 2 + ((b[1] + b[3]) / 2 - acy) ** 2,
        )
        candidates.remove(best)
        bx0, by0, bx1, by1 = best
        cx, cy = (bx0 + bx1) / 2, (by0 + by1) / 2
        inside = ax0 <= cx <= ax1 and ay0 <= cy <= ay1
        length, got = (ay1 - ay0, by1 - by0) if vertical else (ax1 - ax0, bx1 - bx0)
        if inside and abs(got - length) <= 0.1 * max(length, 1e-6):
            good += 1
    return good, len(ours)


# --- the data ---------------------------------------------------------------------------------


def data_sets(
    limit: int | None, names: tuple[str, ...] = ("funsd", "sroie", "layout")
) -> list[tuple[str, list[Path], dict[tuple[str, int], str]]]:
    """(name, input files, ground truth text by (file name, page)) of each set present."""
    sets: list[tuple[str, list[Path], dict[tuple[str, int], str]]] = []
    for name in ("funsd", "sroie"):
        if name not in names:
            continue
        root = SHARED / "data" / "ocr" / name / "dev"
        if not (root / "gt.jsonl").is_file():
            continue
        rows = [json.loads(line) for line in (root / "gt.jsonl").read_text().splitlines() if line]
        rows = rows[:limit] if limit else rows
        files = [root / r["image"] for r in rows]
        sets.append((name, files, {(Path(r["image"]).name, 1): r["text"] for r in rows}))
    root = SHARED / "data" / "layout" / "dev"
    if "layout" in names and (root / "key.json").is_file():
        key = json.loads((root / "key.json").read_text())
        docs = list(key["pages"])
        docs = docs[:limit] if limit else docs
        truth = {(d, int(n)): text for d in docs for n, text in key["pages"][d].items()}
        sets.append(("layout", [root / d for d in docs], truth))
    return sets


# --- the two tools ----------------------------------------------------------------------------

_last_cpu: dict[str, float] = {}  # CPU seconds (user + system) of each tool's last run


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def run_ours(
    files: list[Path], out: Path, pdfa: bool = False
) -> tuple[float, dict[str, list[Any]], int]:
    """Our searchable PDFs of ``files`` in ``out`` (what `scanrag ocr --format pdf` does, in
    this process: the engine built with the configured threads, as the CLI builds it, every
    page read, each PDF written); wall seconds, the pages read per file and the bytes of the
    text layers."""
    from cli.pdf_out import pdf_target
    from core.config import get_settings
    from pipelines.load import sniff
    from pipelines.pdf_layer import PdfParams, SearchablePdf
    from workers.context import build_ocr_engine, load_params

    # not OCRmyPDF's --jobs: the engine already reads one page per core (workers = cores,
    # 1 thread each); 2 threads per worker on 2 cores oversubscribed them and cost 1.7x the CPU
    # per page (layout dev, 5 files: 3.8 against 2.2 s)
    get_settings.cache_clear()
    settings = get_settings()
    start = time.perf_counter()
    cpu_start = _cpu(resource.RUSAGE_SELF)
    engine = build_ocr_engine(settings, "cpu")
    engine.models()
    pages: dict[str, list[Any]] = {}
    doc: Any = None
    layer_bytes = 0
    for event in engine.read_paths(files, load_params(settings, None)):
        source = Path(event.source)
        if event.kind == "opened":
            doc = SearchablePdf(source, sniff(source.read_bytes()[:1024]), PdfParams(pdfa=pdfa))
            pages[source.name] = []
        elif event.kind == "page" and event.page is not None:
            doc.add(event.page)
            pages[source.name].append(event.page)
        elif event.kind == "done":
            layer_bytes += doc.save(pdf_target(out, source)).layer_bytes
        elif event.kind == "failed":
            raise RuntimeError(f"{source}: {event.error}")
    _last_cpu["ours"] = _cpu(resource.RUSAGE_SELF) - cpu_start
    return time.perf_counter() - start, pages, layer_bytes


def run_ocrmypdf(exe: str, files: list[Path], out: Path, jobs: int) -> float:
    """OCRmyPDF's searchable PDFs of ``files`` in ``out`` (its defaults; images at 200 dpi
    where they name none, as ours); wall seconds."""
    from cli.pdf_out import pdf_target

    start = time.perf_counter()
    cpu_start = _cpu(resource.RUSAGE_CHILDREN)
    for f in files:
        args = [exe, "--jobs", str(jobs), "--image-dpi", "200", str(f), str(pdf_target(out, f))]
        res = subprocess.run(args, capture_output=True, text=True)
        if res.returncode != 0:
            # an image with its own dpi refuses --image-dpi: run it without
            args.remove("--image-dpi")
            args.remove("200")
            res = subprocess.run(args, capture_output=True, text=True)
        if res.returncode != 0:
            raise RuntimeError(f"ocrmypdf failed on {f}: {res.stderr[-400:]}")
    # (its own CPU and its tesseract and ghostscript children's: all were waited for)
    _last_cpu["ocrmypdf"] = _cpu(resource.RUSAGE_CHILDREN) - cpu_start
    return time.perf_counter() - start


def _score(truth: dict[tuple[str, int], str], out: Path, files: list[Path]) -> dict[str, float]:
    """Loose CER of ``pdftotext`` (its own reading order) and of ``pdftotext -raw`` (the
    layer's content order), and bag-of-words F1, against the ground truth."""
    from cli.pdf_out import pdf_target

    ocr_score = scorer()
    scores: dict[str, float] = {}
    for raw in (False, True):
        gt_rows, pred_rows = [], []
        for f in files:
            texts = pdftotext(pdf_target(out, f), raw=raw)
            for n, text in enumerate(texts, 1):
                if (f.name, n) in truth:
                    image = f"{f.name}#{n}"
                    gt_rows.append({"image": image, "text": truth[(f.name, n)]})
                    pred_rows.append({"image": image, "text": text})
        rep, _ = ocr_score.score(gt_rows, pred_rows)
        scores["cer_raw" if raw else "cer"] = rep["loose_micro_cer"]
        scores["f1"] = rep["bow_loose_f1"]
    return scores


def _size_ratio(files: list[Path], out: Path) -> float:
    from cli.pdf_out import pdf_target

    size_in = sum(f.stat().st_size for f in files)
    return sum(pdf_target(out, f).stat().st_size for f in files) / size_in


def self_consistency(files: list[Path], out: Path, pages: dict[str, list[Any]]) -> dict[str, Any]:
    """Ours only: pdftotext -raw against our page text (loose CER), -bbox boxes against ours."""
    import pikepdf

    from cli.pdf_out import pdf_target
    from pipelines.pdf_layer import page_rotate, visible_box

    ocr_score = scorer()
    gt_rows, pred_rows, good, total = [], [], 0, 0
    for f in files:
        target = pdf_target(out, f)
        texts = pdftotext(target, raw=True)
        boxes = pdftotext_words(target)
        with pikepdf.open(target) as pdf:
            for k, page in enumerate(pages[f.name]):
                image = f"{f.name}#{page.page}"
                gt_rows.append({"image": image, "text": page.text})
                pred_rows.append({"image": image, "text": texts[k] if k < len(texts) else ""})
                x0, y0, x1, y1 = visible_box(pdf.pages[k].obj)
                w, h = x1 - x0, y1 - y0
                if page_rotate(pdf.pages[k].obj) in (90, 270):
                    w, h = h, w
                theirs = boxes[k] if k < len(boxes) else []
                vertical = page.rotation % 180 == 90
                g, n = box_agreement(shown_words(page, w, h), theirs, vertical)
                good, total = good + g, total + n
    rep, _ = ocr_score.score(gt_rows, pred_rows)
    return {"self_cer": rep["loose_micro_cer"], "boxes_ok": good / total if total else None}


# --- PDF/A validation -------------------------------------------------------------------------

# PDFBox Preflight findings that only PDF/A-1 has (PDF/A-2 takes ICC v4 profiles, its own part
# number, transparency)
_PDFA1_ONLY = re.compile(
    r"^(2\.1\.6 : .*version of the ICCProfile|7\.11\.2 : .*part must be 1"
    r"|2\.2\.\d+ : .*[Tt]ransparen|2\.4\.\d+ : .*SMask)"
)


def _java_cp(folder: Path, names: tuple[str, ...] = ()) -> str:
    jars = sorted(folder.glob("*.jar"))
    if names:
        jars = [j for j in jars if j.name in names]
    return ":".join(str(j) for j in jars)


def verapdf_command(spec: str) -> list[str]:
    """The veraPDF CLI from ``spec``: a folder of its jars (``java -cp DIR/* GreenfieldCliWrapper``,
    the class the greenfield-apps jar starts), a folder holding its ``verapdf`` script, or a
    command."""
    path = Path(spec)
    if path.is_dir() and (path / "verapdf").is_file():
        return [str(path / "verapdf")]
    if path.is_dir():
        return ["java", "-cp", _java_cp(path), "org.verapdf.apps.GreenfieldCliWrapper"]
    return spec.split()


def verapdf_results(cmd: list[str], pdfs: list[Path]) -> dict[str, list[str]]:
    """Each PDF's failed PDF/A-2b rules as veraPDF reports them (clause-test; none: it passes),
    from its machine-readable report."""
    import xml.etree.ElementTree as ET

    args = [*cmd, "--flavour", "2b", "--format", "mrr", *map(str, pdfs)]
    res = subprocess.run(args, capture_output=True, text=True)
    try:
        root = ET.fromstring(res.stdout)
    except ET.ParseError as exc:
        raise RuntimeError(f"veraPDF gave no report: {res.stderr[-400:]}") from exc
    found: dict[str, list[str]] = {}
    for job in root.iter("job"):
        name = job.findtext("item/name") or ""
        report = job.find("validationReport")
        if report is None:  # the file could not be parsed at all
            found[name] = ["not parsed"]
            continue
        failed = [
            f"{r.get('clause')}-{r.get('testNumber')}"
            for r in report.iter("rule")
            if r.get("status") == "failed"
        ]
        found[name] = [] if report.get("isCompliant") == "true" else failed or ["failed"]
    return found


def preflight_results(folder: str, pdfs: list[Path]) -> dict[str, list[str]]:
    """Each PDF's PDFBox Preflight findings (error codes), those of PDF/A-1 only left out."""
    cp = _java_cp(
        Path(folder),
        (
            "preflight.jar",
            "pdfbox2.jar",
            "fontbox2.jar",
            "xmpbox.jar",
            "commons-logging.jar",
            "javax.activation.jar",
            "jaxb-api.jar",
        ),
    )
    found: dict[str, list[str]] = {}
    for pdf in pdfs:
        args = ["java", "-cp", cp, "org.apache.pdfbox.preflight.Validator_A1b", str(pdf)]
        out = subprocess.run(args, capture_output=True, text=True).stdout
        if "is a valid PDF/A-1b file" in out:
            found[str(pdf)] = []
            continue
        errors = [ln.strip() for ln in out.splitlines() if re.match(r"^\s*\d+(\.\d+)+ : ", ln)]
        if not errors:
            found[str(pdf)] = ["no report"]
            continue
        found[str(pdf)] = [e.split(" : ")[0] for e in errors if not _PDFA1_ONLY.match(e)]
    return found


def pdfa_counts(validator: tuple[str, str], pdfs: list[Path]) -> dict[str, Any]:
    """pdfa_pass / pdfa_fail of ``pdfs`` and the most frequent failed rules."""
    kind, spec = validator
    if kind == "verapdf":
        found = verapdf_results(verapdf_command(spec), pdfs)
    else:
        found = preflight_results(spec, pdfs)
    counts: dict[str, int] = {}
    for rules in found.values():
        for rule in set(rules):
            counts[rule] = counts.get(rule, 0) + 1
    top = sorted(counts.items(), key=lambda kv: -kv[1])[:3]
    return {
        "pdfa_pass": sum(1 for r in found.values() if not r),
        "pdfa_fail": sum(1 for r in found.values() if r),
        "pdfa_failed_rules": " ".join(f"{k}x{v}" for k, v in top),
    }


def pdfa_extra_sets(limit: int | None, tmp: Path) -> list[tuple[str, list[Path]]]:
    """Inputs the data sets lack: TIFF pages (FUNSD dev pages saved as TIFF) and /Rotate 90
    pages (layout dev PDFs, every page turned)."""
    import pikepdf
    from PIL import Image

    sets: list[tuple[str, list[Path]]] = []
    n = limit or 3
    for name, files, _ in data_sets(n, ("funsd", "layout")):
        folder = tmp / f"extra-{name}"
        folder.mkdir()
        made = []
        for f in files[:n]:
            if name == "funsd":
                target = folder / (f.stem + ".tif")
                with Image.open(f) as im:
                    im.save(target, compression="tiff_lzw", dpi=(200, 200))
            else:
                target = folder / f.name
                with pikepdf.open(f) as pdf:
                    for page in pdf.pages:
                        page.obj.Rotate = 90
                    pdf.save(target)
            made.append(target)
        sets.append(("tiff" if name == "funsd" else "rotate90", made))
    return sets


def compare(
    exe: str | None,
    limit: int | None,
    jobs: int,
    sets: tuple[str, ...],
    validator: tuple[str, str] | None = None,
) -> str:
    rows = []
    pdfa = validator is not None
    for name, files, truth in data_sets(limit, sets):
        n_pages = len(truth)
        with tempfile.TemporaryDirectory() as tmp:
            ours_dir, theirs_dir = Path(tmp) / "ours", Path(tmp) / "ocrmypdf"
            ours_dir.mkdir()
            theirs_dir.mkdir()
            wall, pages, layer = run_ours(files, ours_dir, pdfa)
            ours: dict[str, Any] = {"set": name, "tool": "scanrag", "pages": n_pages}
            if validator is not None:
                from cli.pdf_out import pdf_target

                ours.update(pdfa_counts(validator, [pdf_target(ours_dir, f) for f in files]))
            ours["pages_s"] = n_pages / wall
            ours["cpu_s_page"] = _last_cpu["ours"] / n_pages
            ours.update(_score(truth, ours_dir, files))
            ratio = _size_ratio(files, ours_dir)
            size_in = sum(f.stat().st_size for f in files)
            ours["size_ratio"] = ratio
            ours["vs_in+layer"] = ratio * size_in / (size_in + layer)
            ours.update(self_consistency(files, ours_dir, pages))
            rows.append(ours)
            if exe:
                twall = run_ocrmypdf(exe, files, theirs_dir, jobs)
                theirs = {
                    "set": name,
                    "tool": "ocrmypdf",
                    "pages": n_pages,
                    "pages_s": n_pages / twall,
                }
                theirs.update(_score(truth, theirs_dir, files))
                theirs["size_ratio"] = _size_ratio(files, theirs_dir)
                theirs["cpu_s_page"] = _last_cpu["ocrmypdf"] / n_pages
                ours["cpu_speedup"] = theirs["cpu_s_page"] / ours["cpu_s_page"]
                rows.append(theirs)
                ours["speedup"] = n_pages / wall / (n_pages / twall)
        print(f"{name}: done", file=sys.stderr)
    if validator is not None:
        with tempfile.TemporaryDirectory() as tmp:
            for name, files in pdfa_extra_sets(limit, Path(tmp)):
                ours_dir = Path(tmp) / f"ours-{name}"
                ours_dir.mkdir()
                wall, pages, _ = run_ours(files, ours_dir, True)
                n_pages = sum(len(v) for v in pages.values())
                row: dict[str, Any] = {"set": name, "tool": "scanrag", "pages": n_pages}
                row["pages_s"] = n_pages / wall
                from cli.pdf_out import pdf_target

                row.update(pdfa_counts(validator, [pdf_target(ours_dir, f) for f in files]))
                rows.append(row)
    columns = [
        "set",
        "tool",
        "pages",
        "pages_s",
        "speedup",
        "cpu_s_page",
        "cpu_speedup",
        "cer",
        "cer_raw",
        "f1",
        "size_ratio",
        "vs_in+layer",
        "self_cer",
        "boxes_ok",
    ]
    if validator is not None:
        columns += ["pdfa_pass", "pdfa_fail", "pdfa_failed_rules"]
    return table(rows, columns)


def _make_scan(path: Path, pages: int) -> None:
    """A ``pages``-page A4 scan at 200 dpi, one grey JPEG per page (20 noise patterns)."""
    import io

    import pikepdf
    from PIL import Image

    jpegs = []
    for n in range(20):
        buf = io.BytesIO()
        Image.effect_noise((1654, 2339), 40 + n).convert("L").save(buf, "JPEG", quality=50)
        jpegs.append(buf.getvalue())
    pdf = pikepdf.new()
    for n in range(pages):
        pdf.add_blank_page(page_size=(595.44, 842.04))
        page = pdf.pages[-1]
        stream = pikepdf.Stream(pdf, b"")
        stream.write(jpegs[n % 20], filter=pikepdf.Name.DCTDecode)
        stream.Type, stream.Subtype = pikepdf.Name.XObject, pikepdf.Name.Image
        stream.Width, stream.Height, stream.BitsPerComponent = 1654, 2339, 8
        stream.ColorSpace = pikepdf.Name.DeviceGray
        page.obj.Resources = pikepdf.Dictionary(XObject=pikepdf.Dictionary(Im0=stream))
        page.obj.Contents = pdf.make_stream(b"q 595.44 0 0 842.04 0 0 cm /Im0 Do Q")
    pdf.save(path)


def memory_300(pages: int = 300) -> str:
    """Peak RSS while the layer of a ``pages``-page scan is written (the scan made in another
    process; each page given a dense reading of 60 lines of 12 words: the writer is measured,
    not the OCR)."""
    import multiprocessing

    from pipelines.pdf_layer import SearchablePdf
    from pipelines.types import Block, PageResult, TextLine, Word

    tmp = Path(tempfile.mkdtemp())
    try:
        source = tmp / "scan300.pdf"
        maker = multiprocessing.get_context("spawn").Process(
            target=_make_scan, args=(source, pages)
        )
        maker.start()
        maker.join()
        lines = []
        for row in range(60):
            y = 100 + row * 36
            words = tuple(
                Word(f"word{row}x{k}", (100 + k * 120, y, 200 + k * 120, y + 30), 0.9)
                for k in range(12)
            )
            text = " ".join(w.text for w in words)
            lines.append(TextLine(text, (100, y, 1540, y + 30), 0.9, words))
        block = Block("text", (100, 100, 1540, 2300), tuple(lines))
        marks = {0: peak_rss_mb()}
        start = time.perf_counter()
        doc = SearchablePdf(source, "application/pdf")
        for n in range(1, pages + 1):
            doc.add(PageResult("scan300.pdf", n, 1654, 2339, 200, 0, (block,)))
            if n in (30, 100, pages):
                marks[n] = peak_rss_mb()
        summary = doc.save(tmp / "out.pdf")
        marks[-1] = peak_rss_mb()
        seconds = time.perf_counter() - start
        size_in, size_out = source.stat().st_size, (tmp / "out.pdf").stat().st_size
        names = {0: "before", -1: "saved"}
        rows = [{"after pages": names.get(k, str(k)), "peak RSS MB": v} for k, v in marks.items()]
        head = (
            f"{pages} pages, 720 words each: written in {seconds:.1f} s; input"
            f" {size_in / 1e6:.1f} MB, output {size_out / 1e6:.1f} MB, of which text layer"
            f" {summary.layer_bytes / 1e6:.2f} MB\n\n"
        )
        return head + table(rows, ["after pages", "peak RSS MB"])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ocrmypdf", help="the ocrmypdf executable (its own venv)")
    ap.add_argument("--limit", type=int, default=None, help="files per set")
    ap.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 1, help="OCRmyPDF's --jobs (cores)"
    )
    ap.add_argument("--sets", default="funsd,sroie,layout", help="comma-separated sets")
    ap.add_argument("--pages300", action="store_true", help="the 300-page memory check only")
    ap.add_argument(
        "--verapdf",
        metavar="DIR_OR_CMD",
        help="write ours with --pdfa and validate them with veraPDF (flavour 2b)",
    )
    ap.add_argument(
        "--preflight",
        metavar="DIR",
        help="write ours with --pdfa and validate them with PDFBox Preflight (its jars' folder)",
    )
    args = ap.parse_args()
    print(f"CPU: {cpu_class()}\n")
    if args.pages300:
        print(memory_300())
        return
    validator = (
        ("verapdf", args.verapdf)
        if args.verapdf
        else ("preflight", args.preflight)
        if args.preflight
        else None
    )
    sets = tuple(args.sets.split(","))
    print(compare(args.ocrmypdf, args.limit, args.jobs, sets, validator))


if __name__ == "__main__":
    main()
