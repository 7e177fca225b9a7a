"""A glyph-less TrueType font, made here byte by byte, for invisible text layers.

Every glyph is empty and 500/1000 em wide, so a run of ``n`` characters is ``n / 2`` ems at
any size: the writer stretches it over a word's box with horizontal scaling (``Tz``). The font
has two glyphs (``.notdef`` and the one empty glyph every character is drawn with), so it is a
few hundred bytes; the PDF font maps each character code (a UTF-16 code unit) to glyph 1 and back
to Unicode (``ToUnicode``), which is what text extraction, search and copy read.
"""

from __future__ import annotations

import struct

UNITS_PER_EM = 1000
ADVANCE = 500  # every glyph's width in font units
ASCENT = 800
DESCENT = -200
FONT_NAME = "ScanragGlyphless"


def _checksum(data: bytes) -> int:
    padded = data + b"\0" * (-len(data) % 4)
    return sum(struct.unpack(f">{len(padded) // 4}I", padded)) & 0xFFFFFFFF


def _name_table() -> bytes:
    # Windows Unicode BMP records: family, style, full name, PostScript name
    strings = [(1, FONT_NAME), (2, "Regular"), (4, FONT_NAME), (6, FONT_NAME)]
    records, blob = b"", b""
    for name_id, text in strings:
        data = text.encode("utf-16-be")
        records += struct.pack(">HHHHHH", 3, 1, 0x409, name_id, len(data), len(blob))
        blob += data
    header = struct.pack(">HHH", 0, len(strings), 6 + len(records))
    return header + records + blob


def _tables() -> dict[bytes, bytes]:
    head = struct.pack(
        ">IIIIHHqqhhhhHHhhh",
        0x00010000,  # version
        0x00010000,  # fontRevision
        0,  # checkSumAdjustment, set once the whole font is known
        0x5F0F3CF5,  # magic
        0x000B,  # flags: baseline at y=0, lsb at x=0, integer scaling
        UNITS_PER_EM,
        0,  # created
        0,  # modified
        0,  # xMin
        DESCENT,  # yMin
        ADVANCE,  # xMax
        ASCENT,  # yMax
        0,  # macStyle
        8,  # lowestRecPPEM
        2,  # fontDirectionHint
        0,  # indexToLocFormat: short offsets
        0,  # glyphDataFormat
    )
    hhea = struct.pack(
        ">IhhhHhhhhhhhhhhhH",
        0x00010000,
        ASCENT,
        DESCENT,
        0,  # lineGap
        ADVANCE,  # advanceWidthMax
        0,  # minLeftSideBearing
        0,  # minRightSideBearing
        ADVANCE,  # xMaxExtent
        1,  # caretSlopeRise
        0,  # caretSlopeRun
        0,  # caretOffset
        0,
        0,
        0,
        0,  # reserved
        0,  # metricDataFormat
        2,  # numberOfHMetrics
    )
    maxp = struct.pack(">IH" + "H" * 13, 0x00010000, 2, 0, 0, 0, 0, 2, *([0] * 8))
    os2 = struct.pack(
        ">HhHHH" + "h" * 10 + "h10sIIII4sHHHhhhHHII",
        1,  # version
        ADVANCE,  # xAvgCharWidth
        400,  # usWeightClass
        5,  # usWidthClass
        0,  # fsType: installable (embedding allowed)
        *([0] * 10),  # sub/superscript and strikeout metrics
        0,  # sFamilyClass
        bytes(10),  # panose
        1,  # ulUnicodeRange1 (Basic Latin)
        0,
        0,
        0,
        b"SCRG",  # achVendID
        0x40,  # fsSelection: regular
        0x20,  # usFirstCharIndex
        0xFFFF,  # usLastCharIndex
        ASCENT,  # sTypoAscender
        DESCENT,  # sTypoDescender
        0,  # sTypoLineGap
        ASCENT,  # usWinAscent
        -DESCENT,  # usWinDescent
        1,  # ulCodePageRange1 (Latin 1)
        0,
    )
    hmtx = struct.pack(">HhHh", ADVANCE, 0, ADVANCE, 0)
    # cmap: one format-4 subtable with only the closing 0xFFFF segment (codes reach glyphs
    # through the PDF's CIDToGIDMap, not through this table)
    sub = struct.pack(">HHHHHHHHHHhH", 4, 24, 0, 2, 2, 0, 0, 0xFFFF, 0, 0xFFFF, 1, 0)
    cmap = struct.pack(">HHHHI", 0, 1, 3, 1, 12) + sub
    loca = struct.pack(">HHH", 0, 0, 0)  # both glyphs empty
    glyf = b""  # both glyphs are empty
    post = struct.pack(">IihhIIIII", 0x00030000, 0, -100, 50, 1, 0, 0, 0, 0)
    return {
        b"OS/2": os2,
        b"cmap": cmap,
        b"glyf": glyf,
        b"head": head,
        b"hhea": hhea,
        b"hmtx": hmtx,
        b"loca": loca,
        b"maxp": maxp,
        b"name": _name_table(),
        b"post": post,
    }


def glyphless_ttf() -> bytes:
    """The font program (a TrueType file with two empty glyphs)."""
    tables = _tables()
    count = len(tables)
    power = 1 << (count.bit_length() - 1)
    directory = struct.pack(
        ">IHHHH", 0x00010000, count, power * 16, power.bit_length() - 1, count * 16 - power * 16
    )
    offset = 12 + 16 * count
    records, body = b"", b""
    for tag in sorted(tables):
        data = tables[tag]
        records += struct.pack(">4sIII", tag, _checksum(data), offset + len(body), len(data))
        body += data + b"\0" * (-len(data) % 4)
    font = bytearray(directory + records + body)
    head_at = offset + sum(
        len(tables[t]) + (-len(tables[t]) % 4) for t in sorted(tables) if t < b"head"
    )
    adjustment = (0xB1B0AFBA - _checksum(bytes(font))) & 0xFFFFFFFF
    struct.pack_into(">I", font, head_at + 8, adjustment)
    return bytes(font)


def to_unicode_cmap() -> bytes:
    """The ToUnicode CMap: each 2-byte code is the UTF-16 code unit of its character."""
    ranges = [
        f"<{hi:02X}00> <{hi:02X}FF> <{hi:02X}00>" for hi in range(256) if not 0xD8 <= hi <= 0xDF
    ]
    parts = [
        "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
        "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
        "/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n"
        "1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n"
    ]
    for start in range(0, len(ranges), 100):
        chunk = ranges[start : start + 100]
        parts.append(f"{len(chunk)} beginbfrange\n" + "\n".join(chunk) + "\nendbfrange\n")
    parts.append("endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n")
    return "".join(parts).encode("ascii")
