"""When to run the layout model at all: a gate on the lines as read, against reading order.

    python bench/tuning/layout_gate.py [--cache FILE] [--chars 20] [--shares 0 0.25 0.4 0.5 0.6]

The layout model costs a fixed ~150-200 CPU ms a page, and its regions are used only on pages
of paragraphs (``pipelines.regions.regions_describe_page``); on forms and receipts the row rules
decide anyway. The gate looks at the page's lines before the model runs: the share of them at
least ``--chars`` characters long ("long" lines). A page whose share is under the gate's is laid
out by the row rules without running the model.

Every dev page (layout/dev PDFs, FUNSD dev, SROIE dev) is read once
(``bench/tuning/region_threshold.py`` reading, cached with ``--cache``); per gate, prints each
split's mean loose CER and bag-of-words F1 (shared/tools/ocr_score.py) and the share of its
pages the model runs on, then the lowest and highest share of long lines per split (the room a
gate has).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.common import table
from bench.tuning.region_threshold import cached_dev, score_layouts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--cache", type=Path, help="keep (or reuse) the pages read in this file")
    ap.add_argument("--chars", type=int, default=20, help="a long line has this many characters")
    ap.add_argument("--shares", type=float, nargs="+", default=[0.0, 0.25, 0.4, 0.5, 0.6])
    ap.add_argument("--threshold", type=float, default=0.5, help="the model's score threshold")
    args = ap.parse_args()
    from pipelines.regions import RegionOrderParams, long_line_share

    data = cached_dev(args.cache, args.threshold)
    rows = []
    spread = []
    for ds, pages in data.items():
        shares = [long_line_share(page.lines, args.chars) for _, page, _, _ in pages]
        spread.append(
            {
                "split": f"{ds} dev",
                "pages": len(pages),
                "lowest share": min(shares),
                "median share": sorted(shares)[len(shares) // 2],
                "highest share": max(shares),
            }
        )
        for gate in args.shares:
            kept = [[r for r in regions if r.score >= args.threshold] for _, _, regions, _ in pages]
            runs = sum(share >= gate for share in shares)
            rep = score_layouts(pages, kept, RegionOrderParams(min_long_share=gate))
            rows.append(
                {"split": f"{ds} dev", "gate": gate, "model runs": f"{runs}/{len(pages)}", **rep}
            )
    print(table(rows, ["split", "gate", "model runs", "CER loose", "BoW F1 loose"]))
    print()
    print(f"Share of lines of at least {args.chars} characters, per page:")
    print(table(spread, ["split", "pages", "lowest share", "median share", "highest share"]))


if __name__ == "__main__":
    main()
