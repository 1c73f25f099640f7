"""What a screenshot shows, with the standard library only (the bundle test runs it with
the system Python, so nothing of the project's venv is needed).

    python3 -I scripts/png_stats.py shot.png [--colors '#4e79a7,#f28e2b']

Prints JSON: width, height, distinct colours, the share of the most common colour, and
for each ``--colors`` entry how many pixels are within 40 (sum of |dR|+|dG|+|dB|) of it.
Reads 8-bit non-interlaced RGB/RGBA PNGs (what Qt writes).
"""
from __future__ import annotations

import argparse
import json
import struct
import sys
import zlib
from collections import Counter


def read_png(path: str) -> tuple[int, int, int, bytes]:
    """(width, height, channels, raw pixel bytes) of an 8-bit non-interlaced PNG."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path}: not a PNG file")
    pos, idat, header = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat.append(chunk)
        elif kind == b"IEND":
            break
    if header is None:
        raise ValueError(f"{path}: no IHDR chunk")
    width, height, depth, color_type, _, _, interlace = header
    channels = {2: 3, 6: 4}.get(color_type)
    if depth != 8 or channels is None or interlace:
        raise ValueError(f"{path}: only 8-bit non-interlaced RGB/RGBA is read here")
    raw = zlib.decompress(b"".join(idat))
    stride = width * channels
    out = bytearray(height * stride)
    prev = bytearray(stride)
    for y in range(height):
        ftype = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b = prev[i]
            c = prev[i - channels] if i >= channels else 0
            if ftype == 1:
                line[i] = (line[i] + a) & 255
            elif ftype == 2:
                line[i] = (line[i] + b) & 255
            elif ftype == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        out[y * stride:(y + 1) * stride] = line
        prev = line
    return width, height, channels, bytes(out)


def stats(path: str, colors: list[str]) -> dict:
    """The summary printed by the command line."""
    width, height, channels, pixels = read_png(path)
    counts = Counter(pixels[i:i + 3] for i in range(0, len(pixels), channels))
    targets = [tuple(int(c.lstrip("#")[k:k + 2], 16) for k in (0, 2, 4)) for c in colors]
    near = {c: 0 for c in colors}
    for rgb, n in counts.items():
        for name, t in zip(colors, targets, strict=True):
            if abs(rgb[0] - t[0]) + abs(rgb[1] - t[1]) + abs(rgb[2] - t[2]) <= 40:
                near[name] += n
    return {"width": width, "height": height, "distinct_colors": len(counts),
            "top_color_share": round(counts.most_common(1)[0][1] / (width * height), 4),
            "near": near}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("png")
    parser.add_argument("--colors", default="", help="comma-separated #rrggbb colours to count")
    args = parser.parse_args()
    try:
        result = stats(args.png, [c for c in args.colors.split(",") if c])
    except (OSError, ValueError, zlib.error) as exc:
        sys.exit(f"png_stats: {exc}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
