"""A small .npz in zip64 form throughout: the end-of-central-directory record says 0xFFFF members
and 0xFFFFFFFF for the directory's size and offset, so a reader must follow the zip64 locator to the
zip64 end record; and each central-directory entry keeps its sizes and local-header offset only in
its zip64 extra field. Python's zipfile writes that form only past 65,535 members or 4 GiB, so it
is made by rewriting a small np.savez archive (zip64 readers: Python's zipfile reads it back, which
this script checks). Writes tests/fixtures/tensors/zip64_eocd.npz and fuzz/seeds/tensor_npz/.

    python3 scripts/gen_zip64_fixture.py
"""
import io
import os
import struct
import zipfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    buf = io.BytesIO()
    np.savez(buf, conv=np.arange(12, dtype=np.float32).reshape(3, 4) / 8, bias=np.float32([0.5, -0.25]))
    z = buf.getvalue()
    eocd = z.rindex(b"PK\x05\x06")
    count, cd_size, cd_off = struct.unpack_from("<HII", z, eocd + 10)
    # Rewrite each central-directory entry: sizes and offset moved to a zip64 extra field.
    cd = z[cd_off:cd_off + cd_size]
    out_cd = b""
    i = 0
    for _ in range(count):
        assert cd[i:i + 4] == b"PK\x01\x02"
        comp, raw = struct.unpack_from("<II", cd, i + 20)
        n, e, c = struct.unpack_from("<HHH", cd, i + 28)
        off = struct.unpack_from("<I", cd, i + 42)[0]
        head = bytearray(cd[i:i + 46])
        struct.pack_into("<II", head, 20, 0xFFFFFFFF, 0xFFFFFFFF)
        struct.pack_into("<I", head, 42, 0xFFFFFFFF)
        extra = struct.pack("<HHQQQ", 1, 24, raw, comp, off)
        struct.pack_into("<H", head, 30, e + len(extra))
        name = cd[i + 46:i + 46 + n]
        old_extra = cd[i + 46 + n:i + 46 + n + e]
        comment = cd[i + 46 + n + e:i + 46 + n + e + c]
        out_cd += bytes(head) + name + extra + old_extra + comment
        i += 46 + n + e + c
    body = z[:cd_off]
    new_cd_off = len(body)
    rec_off = new_cd_off + len(out_cd)
    rec = struct.pack("<4sQHHIIQQQQ", b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, len(out_cd), new_cd_off)
    loc = struct.pack("<4sIQI", b"PK\x06\x07", 0, rec_off, 1)
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    data = body + out_cd + rec + loc + end
    # Python's zipfile reads it back, the same arrays.
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert sorted(zf.namelist()) == ["bias.npy", "conv.npy"], zf.namelist()
    back = np.load(io.BytesIO(data))
    assert (back["conv"] == np.arange(12, dtype=np.float32).reshape(3, 4) / 8).all()
    for rel in ["tests/fixtures/tensors/zip64_eocd.npz", "fuzz/seeds/tensor_npz/zip64_eocd.npz"]:
        with open(os.path.join(ROOT, rel), "wb") as f:
            f.write(data)
        print("wrote", rel, len(data), "bytes")


if __name__ == "__main__":
    main()
