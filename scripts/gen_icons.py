#!/usr/bin/env python3
"""Write QuantLens's app icons (www/icons/): a lens over a quantization staircase.

Python's standard library only (zlib + struct write the PNGs). The shapes are signed distance
functions, so edges are anti-aliased without supersampling and the SVG draws the same geometry:

  icon.svg               any size, the favicon
  icon-192.png           192×192, rounded square, transparent corners
  icon-512.png           512×512, the same
  icon-maskable-512.png  512×512, full bleed, the lens inside the 80% safe zone

`--check` writes nothing and fails when a committed icon's pixels differ from what this script draws.
Colours are www/styles.css's --accent (the tile) and its white panels (the lens).
"""
import math
import os
import struct
import sys
import zlib

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "www", "icons")
ACCENT = (0x2F, 0x5B, 0xD3)
WHITE = (0xFF, 0xFF, 0xFF)

# Geometry in unit coordinates (0..1, y down).
CORNER = 0.22  # the tile's corner radius
LENS_C, LENS_R, LENS_W = (0.44, 0.44), 0.235, 0.07  # ring centre, mid radius, stroke width
HANDLE = ((0.625, 0.625), (0.77, 0.77), 0.095)  # from, to, width (round caps)
STAIRS = ([(0.32, 0.53), (0.40, 0.53), (0.40, 0.45), (0.48, 0.45), (0.48, 0.37), (0.56, 0.37)], 0.04)
SAFE = 0.8  # maskable icons: the motif scaled into the central 80%


def seg_dist(px, py, a, b):
    ax, ay = a
    bx, by = b
    dx, dy = bx - ax, by - ay
    t = max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)))
    return math.hypot(px - ax - t * dx, py - ay - t * dy)


def motif_dist(x, y):
    """Signed distance (unit coordinates) to the white lens, handle and staircase."""
    d = abs(math.hypot(x - LENS_C[0], y - LENS_C[1]) - LENS_R) - LENS_W / 2
    a, b, w = HANDLE
    d = min(d, seg_dist(x, y, a, b) - w / 2)
    pts, w = STAIRS
    for p, q in zip(pts, pts[1:]):
        d = min(d, seg_dist(x, y, p, q) - w / 2)
    return d


def tile_dist(x, y):
    """Signed distance to the rounded square filling the unit square."""
    qx = abs(x - 0.5) - (0.5 - CORNER)
    qy = abs(y - 0.5) - (0.5 - CORNER)
    return math.hypot(max(qx, 0.0), max(qy, 0.0)) + min(max(qx, qy), 0.0) - CORNER


def coverage(d, size):
    return max(0.0, min(1.0, 0.5 - d * size))


def render(size, maskable):
    rows = []
    for j in range(size):
        row = bytearray([0])  # filter: none
        y = (j + 0.5) / size
        for i in range(size):
            x = (i + 0.5) / size
            bg = 1.0 if maskable else coverage(tile_dist(x, y), size)
            if maskable:
                mx, my = 0.5 + (x - 0.5) / SAFE, 0.5 + (y - 0.5) / SAFE
                fg = coverage(motif_dist(mx, my) * SAFE, size)
            else:
                fg = coverage(motif_dist(x, y), size)
            rgb = [round(c0 + (c1 - c0) * fg) for c0, c1 in zip(ACCENT, WHITE)]
            row += bytes(rgb + [round(255 * bg)])
        rows.append(bytes(row))
    return png(size, size, b"".join(rows))


def png(w, h, raw):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def pixels(data):
    """A PNG's header and decompressed image data (zlib versions may compress the same pixels
    differently); any other file as it is."""
    if not data.startswith(b"\x89PNG"):
        return data
    pos, ihdr, idat = 8, b"", b""
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + n]
        if kind == b"IHDR":
            ihdr = body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    return ihdr, zlib.decompress(idat)


def svg():
    hex_ = lambda c: "#%02x%02x%02x" % c
    pts, sw = STAIRS
    a, b, hw = HANDLE
    f = lambda v: ("%.3f" % (v * 512)).rstrip("0").rstrip(".")
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 512 512">\n'
        f'  <rect width="512" height="512" rx="{f(CORNER)}" fill="{hex_(ACCENT)}"/>\n'
        f'  <g fill="none" stroke="{hex_(WHITE)}" stroke-linecap="round" stroke-linejoin="round">\n'
        f'    <circle cx="{f(LENS_C[0])}" cy="{f(LENS_C[1])}" r="{f(LENS_R)}" stroke-width="{f(LENS_W)}"/>\n'
        f'    <line x1="{f(a[0])}" y1="{f(a[1])}" x2="{f(b[0])}" y2="{f(b[1])}" stroke-width="{f(hw)}"/>\n'
        f'    <polyline points="{" ".join(f(x) + "," + f(y) for x, y in pts)}" stroke-width="{f(sw)}"/>\n'
        "  </g>\n"
        "</svg>\n"
    ).encode()


def main():
    check = "--check" in sys.argv[1:]
    files = {
        "icon.svg": svg(),
        "icon-192.png": render(192, False),
        "icon-512.png": render(512, False),
        "icon-maskable-512.png": render(512, True),
    }
    bad = []
    for name, data in files.items():
        path = os.path.join(OUT, name)
        if check:
            if not os.path.exists(path) or pixels(open(path, "rb").read()) != pixels(data):
                bad.append(name)
        else:
            os.makedirs(OUT, exist_ok=True)
            open(path, "wb").write(data)
            print("wrote", os.path.relpath(path), len(data), "bytes")
    if bad:
        sys.exit("gen_icons.py --check: differs from what the script writes: " + ", ".join(bad))
    if check:
        print("gen_icons.py --check: the icons are what the script writes")


if __name__ == "__main__":
    main()
