#!/usr/bin/env python3
"""Image fixtures for the model runner's image inputs, and the reference tensors they give.

Writes, under tests/fixtures/image/:
  - small.png (RGB 13x7), small_gray.png (8-bit grey 11x6), small_rgba16.png (16-bit RGBA 9x5),
    small.jpg (RGB 13x7, quality 90, 4:2:0): synthetic gradients + noise, seeded;
  - text0.png (200x52) and text1.jpg (160x40): text rendered with PIL's default font on a light
    background (crops like PP-OCR's text-line classifier sees; PIL draws them, no outside source);
  - broken.png: text0.png cut to its first 300 bytes (a truncated download);
  - reference.json: for each case (file, preprocessing, target size, layout) the expected tensor.

The reference is independent of QuantLens: PIL decodes (libpng, libjpeg), the resize is written
here in numpy (bilinear, half-pixel centres, edge clamped, no antialias: OpenCV INTER_LINEAR /
torch align_corners=False), in float64. JPEG: the decoders may differ by an IDCT/upsampling
rounding step, so the test allows |Δ| ≤ 3/255 per 8-bit value before normalization, mean ≤ 1.5/255
(PIL 13 / libjpeg-turbo against zune-jpeg: 2/255 at most on these files).
Run: python3 scripts/gen_image_fixtures.py [--check]
"""
import io, json, os, sys
import numpy as np
from PIL import Image, ImageDraw, ImageFont, __version__ as PIL_VERSION

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "tests", "fixtures", "image")


def synth(w, h, seed):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    r = 255 * x / max(w - 1, 1)
    g = 255 * y / max(h - 1, 1)
    b = 128 + 100 * np.sin(x * 0.9 + y * 1.3)
    a = np.stack([r, g, b], -1) + rng.normal(0, 12, (h, w, 3))
    return np.clip(np.round(a), 0, 255).astype(np.uint8)


def text_crop(w, h, words, seed):
    rng = np.random.default_rng(seed)
    bg = tuple(int(v) for v in rng.integers(200, 250, 3))
    im = Image.new("RGB", (w, h), bg)
    d = ImageDraw.Draw(im)
    try:
        font = ImageFont.load_default(size=int(h * 0.6))
    except TypeError:  # Pillow < 10.1
        font = ImageFont.load_default()
    d.text((4, h * 0.15), words, fill=(20, 20, 40), font=font)
    return im


def resize(a, h, w):
    """Bilinear, half-pixel centres, clamped; a: HxWxC float64."""
    H, W = a.shape[:2]

    def taps(out, inp):
        s = np.maximum((np.arange(out) + 0.5) * inp / out - 0.5, 0.0)
        i0 = np.minimum(np.floor(s).astype(int), inp - 1)
        i1 = np.minimum(i0 + 1, inp - 1)
        return i0, i1, np.clip(s - i0, 0, 1)

    y0, y1, fy = taps(h, H)
    x0, x1, fx = taps(w, W)
    top = a[y0][:, x0] * (1 - fx)[None, :, None] + a[y0][:, x1] * fx[None, :, None]
    bot = a[y1][:, x0] * (1 - fx)[None, :, None] + a[y1][:, x1] * fx[None, :, None]
    return top * (1 - fy)[:, None, None] + bot * fy[:, None, None]


def tensor(path, size, pp):
    im = Image.open(path)
    im = im.convert("RGB") if im.mode != "I;16" else im
    a = np.asarray(im.convert("RGB"), dtype=np.float64)
    h, w = size
    inner = min(int(np.ceil(h * a.shape[1] / a.shape[0])), w) if pp["pad"] else w
    r = resize(a, h, inner)
    if pp["bgr"]:
        r = r[..., ::-1]
    r = (r * pp["scale"] - np.array(pp["mean"])) / np.array(pp["std"])
    full = np.zeros((h, w, 3))
    full[:, :inner] = r
    out = full.transpose(2, 0, 1)[None] if pp["layout"] == "nchw" else full[None]
    return list(out.shape), [round(float(v), 6) for v in out.ravel()]


PP = {
    "unit": dict(bgr=False, scale=1 / 255, mean=[0, 0, 0], std=[1, 1, 1], layout="nhwc", pad=False),
    "imagenet": dict(bgr=False, scale=1 / 255, mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225], layout="nchw", pad=False),
    "ppocr": dict(bgr=True, scale=1 / 255, mean=[0.5] * 3, std=[0.5] * 3, layout="nchw", pad=True),
}
CASES = [
    ("small.png", (5, 9), "imagenet"),
    ("small.png", (7, 13), "unit"),
    ("small.png", (16, 30), "ppocr"),
    ("small_gray.png", (4, 4), "unit"),
    ("small_rgba16.png", (6, 7), "imagenet"),
    ("small.jpg", (5, 9), "imagenet"),
    ("text1.jpg", (12, 48), "ppocr"),
]


def write_fixtures():
    os.makedirs(OUT, exist_ok=True)
    Image.fromarray(synth(13, 7, 1)).save(os.path.join(OUT, "small.png"), optimize=False)
    Image.fromarray(synth(11, 6, 2)[..., 0]).save(os.path.join(OUT, "small_gray.png"))
    rgba16 = (synth(9, 5, 3).astype(np.uint16) * 257)
    # PIL cannot write 16-bit RGBA: write it with a minimal PNG encoder.
    write_png16(os.path.join(OUT, "small_rgba16.png"), rgba16)
    Image.fromarray(synth(13, 7, 4)).save(os.path.join(OUT, "small.jpg"), quality=90)
    text_crop(200, 52, "QuantLens 0.1", 5).save(os.path.join(OUT, "text0.png"))
    text_crop(160, 40, "int8 sensitivity", 6).save(os.path.join(OUT, "text1.jpg"), quality=92)
    with open(os.path.join(OUT, "text0.png"), "rb") as f:
        head = f.read(300)
    with open(os.path.join(OUT, "broken.png"), "wb") as f:
        f.write(head)


def write_png16(path, rgb):
    import struct, zlib
    h, w, _ = rgb.shape
    alpha = np.full((h, w, 1), 65535, np.uint16)
    a = np.concatenate([rgb, alpha], -1).astype(">u2")
    raw = b"".join(b"\x00" + a[y].tobytes() for y in range(h))

    def chunk(t, d):
        c = struct.pack(">I", len(d)) + t + d
        return c + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 6, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(png)


def reference():
    cases = []
    for name, size, pp in CASES:
        shape, data = tensor(os.path.join(OUT, name), size, PP[pp])
        cases.append(dict(file=name, size=list(size), preset=pp, preprocess=PP[pp], shape=shape, data=data))
    return dict(
        provenance=f"scripts/gen_image_fixtures.py: PIL {PIL_VERSION} decodes, numpy {np.__version__} bilinear (half-pixel centres)",
        jpeg_tolerance_8bit=3,
        cases=cases,
    )


if __name__ == "__main__":
    check = "--check" in sys.argv
    if not check:
        write_fixtures()
    ref = reference()
    path = os.path.join(OUT, "reference.json")
    text = json.dumps(ref, indent=0)
    if check:
        old = open(path).read()
        sys.exit(0 if old == text else "reference.json differs from what the images give")
    with open(path, "w") as f:
        f.write(text)
    print("wrote", OUT)
