"""PDF/A-2b for the searchable PDF (``scanrag ocr --format pdf --pdfa``).

What we add: the XMP metadata stream with the PDF/A identification (``pdfaid:part`` 2,
``pdfaid:conformance`` B) and the Info dictionary's fields mirrored into it (pikepdf keeps the
two in step), and an OutputIntent (``GTS_PDFA1``) whose profile is sRGB, made by LittleCMS
through Pillow (no file is read or fetched). Our own text font is already what PDF/A-2 asks for
(embedded TrueType program, widths equal to the program's, Identity-H, a CIDToGIDMap stream, a
ToUnicode map, no CIDSet, which PDF/A-2 does not require); the trailer gets its ``/ID`` when the
file is saved, and we never encrypt.

An input PDF is checked first against the PDF/A-2 rules its own content could break (veraPDF's
PDF/A-2B profile, the rules an OCR layer cannot cause): JavaScript and other forbidden actions,
additional actions, fonts that are not embedded, device CMYK colour without a CMYK output
intent, PostScript, transfer functions and halftones, forbidden annotations or hidden ones,
XFA forms, embedded files, XMP properties outside the predefined and declared schemas, a
version above 1.7. Such a file is refused (``NotPdfA``, one line naming what is wrong) rather
than written with a claim of conformance it does not meet. Two things are fixed because the
fix changes nothing that is shown: LZW streams are re-encoded with Flate (lossless), and
``/Interpolate true`` on images (a viewer hint) is dropped. Transparency is allowed in PDF/A-2
(the output intent gives it its blending space), and so are JPEG 2000 and JBIG2 images.

The check is ours: a refusal is certain, a pass is likely but not a proof. veraPDF is the
reference validator (``bench/pdf.py --verapdf``)."""

from __future__ import annotations

import re
import zlib
from datetime import UTC, datetime
from typing import Any

from core.errors import BadInput
from pipelines.pdf_objects import page_instructions

PART, CONFORMANCE = "2", "B"
_ACTIONS = {"GoTo", "GoToR", "GoToE", "Thread", "URI", "Named", "SubmitForm"}
_NAMED = {"NextPage", "PrevPage", "FirstPage", "LastPage"}
_ANNOTS = {
    "Text", "Link", "FreeText", "Line", "Square", "Circle", "Polygon", "PolyLine", "Highlight",
    "Underline", "Squiggly", "StrikeOut", "Stamp", "Caret", "Ink", "Popup", "Widget",
    "PrinterMark", "TrapNet", "Watermark", "Redact", "FileAttachment",
}  # fmt: skip
_BLEND = {
    "Normal", "Compatible", "Multiply", "Screen", "Overlay", "Darken", "Lighten", "ColorDodge",
    "ColorBurn", "HardLight", "SoftLight", "Difference", "Exclusion", "Hue", "Saturation",
    "Color", "Luminosity",
}  # fmt: skip
# XMP namespaces PDF/A-2 takes without an extension schema (XMP 2005, ISO 19005)
_XMP_PREDEFINED = {
    "http://purl.org/dc/elements/1.1/",
    "http://ns.adobe.com/xap/1.0/",
    "http://ns.adobe.com/xap/1.0/rights/",
    "http://ns.adobe.com/xap/1.0/mm/",
    "http://ns.adobe.com/xap/1.0/bj/",
    "http://ns.adobe.com/xap/1.0/t/pg/",
    "http://ns.adobe.com/xmp/1.0/DynamicMedia/",
    "http://ns.adobe.com/pdf/1.3/",
    "http://ns.adobe.com/photoshop/1.0/",
    "http://ns.adobe.com/camera-raw-settings/1.0/",
    "http://ns.adobe.com/tiff/1.0/",
    "http://ns.adobe.com/exif/1.0/",
    "http://ns.adobe.com/exif/1.0/aux/",
    "http://www.aiim.org/pdfa/ns/id/",
    "http://www.aiim.org/pdfa/ns/extension/",
    "http://www.aiim.org/pdfa/ns/schema#",
    "http://www.aiim.org/pdfa/ns/property#",
    "http://www.aiim.org/pdfa/ns/type#",
    "http://www.aiim.org/pdfa/ns/field#",
    "http://ns.adobe.com/xmp/Identifier/qual/1.0/",
    "http://ns.adobe.com/xap/1.0/sType/ResourceRef#",
    "http://ns.adobe.com/xap/1.0/sType/ResourceEvent#",
    "http://ns.adobe.com/xap/1.0/sType/Version#",
    "http://ns.adobe.com/xap/1.0/sType/Job#",
    "http://ns.adobe.com/xap/1.0/sType/Dimensions#",
    "http://ns.adobe.com/xap/1.0/sType/Font#",
    "http://ns.adobe.com/xap/1.0/g/",
    "http://ns.adobe.com/xap/1.0/g/img/",
    "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "http://www.w3.org/XML/1998/namespace",
    "adobe:ns:meta/",
}
_MAX_LISTED = 3  # problems named in the refusal line


_SKELETON = (
    b'<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
    b' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
    b'  <rdf:Description rdf:about=""'
    b' xmlns:dc="http://purl.org/dc/elements/1.1/"'
    b' xmlns:xmp="http://ns.adobe.com/xap/1.0/"'
    b' xmlns:pdf="http://ns.adobe.com/pdf/1.3/"'
    b' xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/"/>\n'
    b" </rdf:RDF>\n</x:xmpmeta>\n"
    b'<?xpacket end="w"?>'
)


class NotPdfA(BadInput):
    """The input PDF has content that PDF/A-2b forbids and that cannot be fixed safely."""

    code = "not_pdfa"
    default_message = "the PDF cannot be made PDF/A-2b"


_srgb: bytes | None = None


def srgb_profile() -> bytes:
    """An sRGB ICC profile (monitor class, ICC v4): LittleCMS's built-in sRGB, made by Pillow."""
    global _srgb
    if _srgb is None:
        from PIL import ImageCms

        _srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    return _srgb


def _name(value: Any) -> str:
    """A PDF name's text without the slash ('' for anything else)."""
    import pikepdf

    return str(value)[1:] if isinstance(value, pikepdf.Name) else ""


def _filters(obj: Any) -> list[str]:
    import pikepdf

    value = obj.get("/Filter")
    if value is None:
        return []
    items = list(value) if isinstance(value, pikepdf.Array) else [value]
    return [_name(v) for v in items]


def _is_cmyk(space: Any) -> bool:
    """Whether an image's colour space is device CMYK (or indexed over it)."""
    import pikepdf

    if isinstance(space, pikepdf.Array) and len(space) >= 2 and _name(space[0]) == "Indexed":
        space = space[1]
    return _name(space) == "DeviceCMYK"


def _intent_components(pdf: Any) -> int | None:
    """The colour components of the document's PDF/A output intent profile (None: none)."""
    for intent in pdf.Root.get("/OutputIntents", []):
        if intent.get("/S") == "/GTS_PDFA1" and "/DestOutputProfile" in intent:
            n = intent.DestOutputProfile.get("/N")
            return int(n) if n is not None else None
    return None


def _check_xmp(pdf: Any, problems: list[str]) -> None:
    """XMP properties in namespaces that are neither predefined nor declared in the packet's
    PDF/A extension schemas (6.6.2.3.1)."""
    meta = pdf.Root.get("/Metadata")
    if meta is None:
        return
    try:
        text = meta.read_bytes().decode("utf-8")
    except (UnicodeDecodeError, ValueError, RuntimeError):  # undecodable stream or text
        problems.append("its XMP metadata is not readable UTF-8")
        return
    declared = set(re.findall(r"pdfaSchema:namespaceURI(?:>|=\")([^<\"]+)", text))
    used = set(re.findall(r"xmlns:[A-Za-z0-9_.-]+=[\"']([^\"']+)[\"']", text))
    unknown = sorted(ns for ns in used - _XMP_PREDEFINED - declared)
    if unknown:
        problems.append(f"its XMP uses a schema PDF/A does not know ({unknown[0]})")


def check_input(pdf: Any) -> list[str]:
    """What in ``pdf`` (an opened input) PDF/A-2b forbids, after fixing what is safe to fix
    (LZW to Flate, image interpolation off); empty when nothing was found."""
    import pikepdf
    from pikepdf import Name

    problems: list[str] = []
    version = str(pdf.pdf_version)
    if not re.fullmatch(r"1\.[0-7]", version):
        problems.append(f"it is PDF {version} (PDF/A-2 is PDF 1.7 at most)")
    root = pdf.Root
    for key, what in (
        ("/AA", "additional actions"),
        ("/Requirements", "a Requirements entry"),
        ("/NeedsRendering", "NeedsRendering"),
    ):
        if key in root and not (key == "/NeedsRendering" and not bool(root.NeedsRendering)):
            problems.append(f"its catalog has {what}")
    names = root.get("/Names")
    if names is not None:
        for key, what in (
            ("/JavaScript", "JavaScript"),
            ("/EmbeddedFiles", "embedded files"),
            ("/AlternatePresentations", "alternate presentations"),
        ):
            if key in names:
                problems.append(f"it has {what}")
    form = root.get("/AcroForm")
    if form is not None:
        if "/XFA" in form:
            problems.append("it has an XFA form")
        if bool(form.get("/NeedAppearances", False)):
            problems.append("its form needs appearances made by the viewer")
    perms = root.get("/Perms")
    if perms is not None and any(k not in ("/UR3", "/DocMDP") for k in perms):
        problems.append("it has permissions PDF/A forbids")
    cmyk_intent = _intent_components(pdf) == 4
    fonts_seen: set[tuple[int, int]] = set()
    for obj in _dictionaries(pdf):
        kind = _name(obj.get("/Type"))
        subtype = _name(obj.get("/Subtype"))
        if isinstance(obj, pikepdf.Stream):
            filters = _filters(obj)
            if "LZWDecode" in filters:
                if filters == ["LZWDecode"]:  # lossless: decode, store with Flate
                    data = obj.read_bytes()
                    if "/DecodeParms" in obj:
                        del obj["/DecodeParms"]
                    obj.write(zlib.compress(data, 6), filter=Name.FlateDecode)
                else:
                    problems.append("it has LZW-compressed data in a filter chain")
            if "Crypt" in filters or "/F" in obj:
                problems.append("it has encrypted or external streams")
            if subtype == "PS" or ("/Subtype2" in obj and _name(obj.Subtype2) == "PS"):
                problems.append("it has PostScript")
            if subtype == "Image":
                if bool(obj.get("/Interpolate", False)):
                    del obj["/Interpolate"]  # a viewer hint: nothing shown changes
                if "/Alternates" in obj or "/OPI" in obj:
                    problems.append("an image has alternates or OPI")
                if _is_cmyk(obj.get("/ColorSpace")) and not cmyk_intent:
                    problems.append("it has CMYK images without a CMYK output intent")
            if subtype == "Form" and ("/Ref" in obj or "/OPI" in obj):
                problems.append("it has reference or OPI forms")
        if kind == "Action" or ("/S" in obj and ("/D" in obj or "/JS" in obj or "/URI" in obj)):
            action = _name(obj.get("/S"))
            if action and action not in _ACTIONS:
                problems.append(f"it has a {action} action")
            elif action == "Named" and _name(obj.get("/N")) not in _NAMED:
                problems.append("it has a named action PDF/A forbids")
        if "/JS" in obj:
            problems.append("it has JavaScript")
        if kind == "Page" and ("/AA" in obj or "/PresSteps" in obj):
            problems.append("a page has additional actions or presentation steps")
        if kind == "Annot" or ("/Rect" in obj and "/Subtype" in obj and kind != "Page"):
            _check_annot(obj, subtype, problems)
        if kind == "ExtGState":
            if "/TR" in obj or "/HTP" in obj:
                problems.append("it uses transfer functions")
            tr2 = obj.get("/TR2")
            if tr2 is not None and _name(tr2) != "Default":
                problems.append("it uses transfer functions")
            if "/HT" in obj and _name(obj.HT) != "Default":
                problems.append("it sets halftones")
            bm = obj.get("/BM")
            modes = list(bm) if isinstance(bm, pikepdf.Array) else [bm] if bm is not None else []
            if any(_name(m) not in _BLEND for m in modes):
                problems.append("it uses a blend mode PDF/A forbids")
        if kind == "Font" or (subtype in ("Type1", "TrueType", "MMType1") and "/BaseFont" in obj):
            font_id = obj.objgen
            if font_id not in fonts_seen:
                fonts_seen.add(font_id)
                _check_font(obj, subtype, problems)
    if not cmyk_intent and _content_uses_cmyk(pdf):
        problems.append("its pages paint in device CMYK without a CMYK output intent")
    _check_xmp(pdf, problems)
    return list(dict.fromkeys(problems))  # each once, in the order found


def _dictionaries(pdf: Any) -> Any:
    """Every dictionary and stream of ``pdf``: the indirect objects and the direct ones inside
    them (an action written straight into the catalog, say), each once."""
    import pikepdf

    def inner(obj: Any, depth: int) -> Any:
        if depth > 32:
            return
        if isinstance(obj, (pikepdf.Dictionary, pikepdf.Stream)):
            yield obj
            values = obj.values()
        elif isinstance(obj, pikepdf.Array):
            values = list(obj)
        else:
            return
        for value in values:
            if isinstance(value, (pikepdf.Dictionary, pikepdf.Array, pikepdf.Stream)) and (
                not value.is_indirect
            ):
                yield from inner(value, depth + 1)

    for obj in pdf.objects:
        yield from inner(obj, 0)


def _check_annot(obj: Any, subtype: str, problems: list[str]) -> None:
    if subtype and subtype not in _ANNOTS:
        problems.append(f"it has a {subtype} annotation")
        return
    flags = obj.get("/F")
    if subtype != "Popup":
        f = int(flags) if flags is not None else None
        if f is None or f & 1 or f & 2 or not f & 4 or f & 32 or f & 256:
            problems.append("it has an annotation that is hidden or not printed")
    if "/AA" in obj or (subtype == "Widget" and "/A" in obj):
        problems.append("it has a form field with actions")


def _check_font(obj: Any, subtype: str, problems: list[str]) -> None:
    """A font that would be drawn without its program in the file (6.2.11.4.1). A font used
    only invisibly (render mode 3) may go without, but telling that needs every content stream
    read: we refuse any font not embedded."""
    if subtype in ("Type3", ""):
        return
    if subtype == "Type0":
        for descendant in obj.get("/DescendantFonts", []):
            _check_font(descendant, _name(descendant.get("/Subtype")), problems)
        return
    descriptor = obj.get("/FontDescriptor")
    if descriptor is None or not any(
        k in descriptor for k in ("/FontFile", "/FontFile2", "/FontFile3")
    ):
        problems.append(f"the font {str(obj.get('/BaseFont', '?'))[1:]} is not embedded")


def _content_uses_cmyk(pdf: Any) -> bool:
    """Whether a page's content (or a form it draws) sets device CMYK colour (k, K, or a
    DeviceCMYK colour space) where no DefaultCMYK remaps it."""

    def remapped(resources: Any) -> bool:
        spaces = resources.get("/ColorSpace")
        return spaces is not None and "/DefaultCMYK" in spaces

    def sets_cmyk(inst: Any) -> bool:
        op = str(inst.operator)
        if op in ("k", "K"):
            return True
        if op in ("cs", "CS") and inst.operands and _name(inst.operands[0]) == "DeviceCMYK":
            return True
        if op == "INLINE IMAGE" and inst.operands:  # its /CS
            image = inst.operands[0].obj
            cs = image.get("/ColorSpace", image.get("/CS"))
            return cs is not None and _name(cs) in ("DeviceCMYK", "CMYK")
        return False

    return any(
        sets_cmyk(inst) for page in pdf.pages for inst in page_instructions(page, skip=remapped)
    )


def refuse_unless_fit(pdf: Any) -> None:
    """Raise ``NotPdfA`` naming what in ``pdf`` PDF/A-2b forbids (after the safe fixes)."""
    problems = check_input(pdf)
    if problems:
        more = f" (and {len(problems) - _MAX_LISTED} more)" if len(problems) > _MAX_LISTED else ""
        raise NotPdfA("cannot be written as PDF/A-2b: " + "; ".join(problems[:_MAX_LISTED]) + more)


def make_pdfa(pdf: Any) -> None:
    """Give ``pdf`` what PDF/A-2b asks of the document as a whole: the output intent and the
    XMP identification, the Info dictionary's fields in the XMP too."""
    import pikepdf
    from pikepdf import Array, Dictionary, Name

    root = pdf.Root
    if _intent_components(pdf) is None:
        profile = pikepdf.Stream(pdf, srgb_profile())
        profile.N = 3
        intent = Dictionary(
            Type=Name.OutputIntent,
            S=Name.GTS_PDFA1,
            OutputConditionIdentifier=pikepdf.String("sRGB IEC61966-2.1"),
            Info=pikepdf.String("sRGB IEC61966-2.1"),
            DestOutputProfile=pdf.make_indirect(profile),
        )
        intents = root.get("/OutputIntents")
        if intents is None:
            root.OutputIntents = Array([pdf.make_indirect(intent)])
        else:  # a PDF/X intent, say: PDF/A wants the same profile in all of them
            for other in intents:
                other.DestOutputProfile = intent.DestOutputProfile
            intents.append(pdf.make_indirect(intent))
    if "/Metadata" not in root:  # our namespaces declared once, on the description
        root.Metadata = pdf.make_stream(_SKELETON, Type=Name.Metadata, Subtype=Name.XML)
    now = datetime.now(UTC).replace(microsecond=0).isoformat()
    with pdf.open_metadata(set_pikepdf_as_editor=False, update_docinfo=True) as meta:
        meta.load_from_docinfo(pdf.docinfo, delete_missing=False, raise_failure=False)
        meta["xmp:MetadataDate"] = now
        meta["xmp:ModifyDate"] = now  # (and the Info's ModDate, kept in step)
        meta["pdfaid:part"] = PART
        meta["pdfaid:conformance"] = CONFORMANCE
        if "/Producer" not in pdf.docinfo:
            meta["pdf:Producer"] = "scanrag"
        if "xmp:CreatorTool" not in meta:
            meta["xmp:CreatorTool"] = "scanrag"
    if "/Metadata" in root and "/Filter" in root.Metadata:  # keep it readable as it is
        data = root.Metadata.read_bytes()
        root.Metadata.write(data)
