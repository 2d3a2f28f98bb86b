"""Image files of every common layout decode to the exact 8-bit RGB values expected: 1-4 channels, 8 and 16 bits."""
import struct
import zlib

import numpy as np
import pytest

from imgtf.data.images import decode_rgb

COLOUR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}  # channels -> PNG colour type (gray, gray+alpha, RGB, RGBA)


def png(pixels, bits, claimed_size=None):
    """A PNG written by hand from uint [H, W, C] values (so 16-bit layouts need no encoder support); its header
    may claim another (width, height)."""
    height, width, channels = pixels.shape
    dtype = ">u2" if bits == 16 else "u1"
    rows = b"".join(b"\x00" + pixels[r].astype(dtype).tobytes() for r in range(height))

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", *(claimed_size or (width, height)), bits, COLOUR_TYPES[channels], 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("bits", [8, 16])
@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_png_layouts_decode_to_exact_values(channels, bits):
    top = 255 if bits == 8 else 65535
    values = np.array([0, 1, 0x7F, 0x80, 0xFF, 0x100, 0x4000, 0x8000, 0xFFFF], np.int64)
    values = values[values <= top]
    rng = np.random.default_rng(channels * 100 + bits)
    pixels = rng.choice(values, size=(3, 5, channels))
    pixels[0, 0, :] = values[-1]  # the brightest value is always present
    decoded = decode_rgb(png(pixels, bits), "test.png")
    eight = pixels >> 8 if bits == 16 else pixels  # 16 bits keep their high byte, in gray and in colour alike
    colour = np.repeat(eight[..., :1], 3, axis=-1) if channels <= 2 else eight[..., :3]  # alpha dropped
    assert decoded.dtype == np.uint8 and decoded.shape == (3, 5, 3)
    np.testing.assert_array_equal(decoded, colour)


def test_sixteen_bit_gray_is_not_white():
    """Regression: values 0x0100, 0x4000 and 0x8000 all decoded as 255 before."""
    decoded = decode_rgb(png(np.array([[[0x0100], [0x4000], [0x8000]]]), 16), "gray16.png")
    assert decoded[0, :, 0].tolist() == [1, 64, 128]


def test_oversized_and_garbled_files_are_refused_by_name():
    from imgtf.errors import CorruptDataError

    header_only = png(np.zeros((1, 1, 1), np.int64), 8, claimed_size=(15000, 15000))  # claims 225 megapixels
    with pytest.raises(CorruptDataError, match=r"huge\.png: refused, too large.*skip_corrupt=true"):
        decode_rgb(header_only, "huge.png")
    with pytest.raises(CorruptDataError, match=r"garbled\.jpg: cannot decode image") as e:
        decode_rgb(b"\xff\xd8\xff\xe0 not really a jpeg", "garbled.jpg")
    assert "BytesIO" not in str(e.value)
