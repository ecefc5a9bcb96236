"""A PNG reader just big enough for screenshots and QR codes: 8-bit, or 1-bit grey, non-interlaced,
to grey levels for zxing."""

from __future__ import annotations

import struct
import zlib

__all__ = ["grey"]

CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}  # colour type -> samples per pixel


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def grey(png: bytes) -> memoryview:
    """The image as a (height, width) memoryview of grey levels, which zxing-cpp reads."""
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, header, data = 8, b"", bytearray()
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos:pos + 8])
        chunk = png[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = chunk
        elif kind == b"IDAT":
            data += chunk
        elif kind == b"IEND":
            break
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    if depth == 1 and colour == 0 and not interlace:
        return _one_bit(zlib.decompress(bytes(data)), width, height)
    if depth != 8 or interlace or colour not in CHANNELS:
        raise ValueError(f"unsupported PNG: depth {depth}, colour {colour}, interlace {interlace}")
    bpp = CHANNELS[colour]
    stride = width * bpp
    raw = zlib.decompress(bytes(data))
    previous = bytearray(stride)
    out = bytearray(width * height)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up = previous[i]
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + ((left + up) >> 1)) & 0xFF
            elif kind == 4:
                upleft = previous[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + _paeth(left, up, upleft)) & 0xFF
        for x in range(width):
            px = line[x * bpp:x * bpp + bpp]
            out[y * width + x] = px[0] if bpp <= 2 else (px[0] * 299 + px[1] * 587
                                                         + px[2] * 114) // 1000
        previous = line
    return memoryview(bytes(out)).cast("B", (height, width))


def _one_bit(raw: bytes, width: int, height: int) -> memoryview:
    """1-bit grey (what QR encoders write): a byte holds 8 pixels; filters work on bytes."""
    stride = (width + 7) // 8
    previous = bytearray(stride)
    out = bytearray(width * height)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for i in range(stride):
            left = line[i - 1] if i else 0
            up = previous[i]
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + ((left + up) >> 1)) & 0xFF
            elif kind == 4:
                line[i] = (line[i] + _paeth(left, up, previous[i - 1] if i else 0)) & 0xFF
        for x in range(width):
            out[y * width + x] = 255 if line[x >> 3] & (0x80 >> (x & 7)) else 0
        previous = line
    return memoryview(bytes(out)).cast("B", (height, width))
