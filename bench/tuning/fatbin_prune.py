"""Keep one GPU architecture's kernels in a CUDA shared library, so that it compresses small.

    python bench/tuning/fatbin_prune.py LIB [--arch 90] [--out PRUNED]

onnxruntime-gpu's CUDA provider (``libonnxruntime_providers_cuda.so``, 284 MB) carries its
kernels compiled for sm_75, 80, 86, 89, 90 and 120; a machine runs one of them. To carry the
wheel to a GPU machine with no package index in pieces of at most 64 MiB, this zeroes the
kernel images (cubins) of every other architecture in each fatbin block of the ``.nv_fatbin``
section that holds one for ``--arch``; headers, offsets and sizes are untouched, and blocks
without such an image are left whole. The driver reads the headers and loads only the image for
its GPU, so the library runs there as before (seen on an H200, sm_90: the CUDA provider loaded
and ran); under xz it shrinks from 255 MB to 53 MB. Without ``--out`` it only reports the MB
per architecture.
"""

from __future__ import annotations

import argparse
import struct
from collections import Counter
from pathlib import Path

FATBIN_MAGIC = 0xBA55ED50
CUBIN = 2  # entry kind: 1 PTX, 2 ELF (cubin)


def section(data: bytes | bytearray, name: bytes) -> tuple[int, int]:
    """The file offset and size of an ELF64 section by name."""
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    names_at = struct.unpack_from("<Q", data, shoff + shstrndx * shentsize + 0x18)[0]
    for k in range(shnum):
        header = shoff + k * shentsize
        name_at = names_at + struct.unpack_from("<I", data, header)[0]
        if data[name_at : data.index(b"\0", name_at)] == name:
            offset, size = struct.unpack_from("<QQ", data, header + 0x18)
            return offset, size
    raise SystemExit(f"no {name.decode()} section")


def prune(data: bytearray, arch: int | None) -> tuple[Counter[int], int]:
    """MB of cubins per architecture; with ``arch``, zero the others' where it has one."""
    offset, size = section(data, b".nv_fatbin")
    pos, end = offset, offset + size
    per_arch: Counter[int] = Counter()
    zeroed = 0
    while pos < end:
        magic, _version, header_size, block_size = struct.unpack_from("<IHHQ", data, pos)
        if magic != FATBIN_MAGIC:  # padding between blocks
            pos += 8
            continue
        entries = []
        p, block_end = pos + header_size, pos + header_size + block_size
        while p < block_end:
            kind, _, entry_header, payload = struct.unpack_from("<HHIQ", data, p)
            entry_arch = struct.unpack_from("<I", data, p + 28)[0]
            entries.append((kind, entry_arch, p + entry_header, payload))
            per_arch[entry_arch] += payload if kind == CUBIN else 0
            p += entry_header + payload
        if arch is not None and any(k == CUBIN and a == arch for k, a, _, _ in entries):
            for _kind, entry_arch, start, payload in entries:
                if entry_arch != arch:
                    data[start : start + payload] = bytes(payload)
                    zeroed += payload
        pos = block_end
    return per_arch, zeroed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("lib", type=Path)
    ap.add_argument("--arch", type=int, default=90, help="the one to keep (90: Hopper)")
    ap.add_argument("--out", type=Path, help="write the pruned library here")
    args = ap.parse_args()
    data = bytearray(args.lib.read_bytes())
    per_arch, zeroed = prune(data, args.arch if args.out else None)
    for arch, size in sorted(per_arch.items()):
        print(f"sm_{arch}: {size / 1e6:.1f} MB of cubins")
    if args.out:
        args.out.write_bytes(data)
        print(f"zeroed {zeroed / 1e6:.1f} MB; wrote {args.out}")


if __name__ == "__main__":
    main()
