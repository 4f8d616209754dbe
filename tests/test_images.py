"""``load_rgb``: every format and mode decodes to 8-bit RGB with the right size and content; bad files
raise ``ImageDecodeError`` with a short, clear reason."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from conftest import generated_rgb
from pixelboard.datasets.images import ImageDecodeError, load_rgb

SIZE = (40, 30)  # width, height: not square, so a swapped size shows


def _pixels(img: Image.Image) -> np.ndarray:
    return np.asarray(img, dtype=np.int16)


def _decoded(path, **kwargs) -> Image.Image:
    img = load_rgb(path, **kwargs)
    assert img.mode == "RGB"
    return img


@pytest.mark.parametrize("suffix, lossless", [(".jpg", False), (".png", True), (".bmp", True), (".tif", True),
                                              (".webp", True)])
def test_every_format_decodes_to_rgb_with_the_same_pixels(tmp_path, suffix, lossless):
    original = generated_rgb(1, SIZE)
    path = tmp_path / f"image{suffix}"
    original.save(path, **{".webp": {"lossless": True}, ".jpg": {"quality": 95, "subsampling": 0}}.get(suffix, {}))
    img = _decoded(path)
    assert img.size == SIZE
    diff = np.abs(_pixels(img) - _pixels(original))
    if lossless:
        assert diff.max() == 0
    else:
        assert diff.mean() < 6


def test_grayscale_l_becomes_three_equal_channels(tmp_path):
    gray = Image.fromarray(np.arange(SIZE[0] * SIZE[1], dtype=np.uint8).reshape(SIZE[1], SIZE[0]), "L")
    gray.save(tmp_path / "g.png")
    array = _pixels(_decoded(tmp_path / "g.png"))
    assert array.shape == (SIZE[1], SIZE[0], 3)
    for channel in range(3):
        np.testing.assert_array_equal(array[..., channel], np.asarray(gray))


def test_palette_without_transparency_keeps_its_colours(tmp_path):
    original = generated_rgb(2, SIZE).quantize(colors=16)
    assert original.mode == "P" and "transparency" not in original.info
    original.save(tmp_path / "p.png")
    np.testing.assert_array_equal(_pixels(_decoded(tmp_path / "p.png")), _pixels(original.convert("RGB")))


def test_palette_with_transparency_is_composited_on_white(tmp_path):
    img = Image.new("P", SIZE, 0)
    img.putpalette([0, 0, 0, 200, 30, 40] + [0] * (254 * 3))  # index 0 black (transparent), 1 red
    img.paste(1, (0, 0, 20, 30))  # left half red, right half transparent
    img.save(tmp_path / "pt.png", transparency=0)
    assert Image.open(tmp_path / "pt.png").info.get("transparency") == 0
    array = _pixels(_decoded(tmp_path / "pt.png"))
    assert tuple(array[5, 5]) == (200, 30, 40)
    assert tuple(array[5, 30]) == (255, 255, 255)  # transparent black -> white, not black


@pytest.mark.parametrize("suffix", [".png", ".webp", ".tif"])
def test_rgba_is_composited_on_white(tmp_path, suffix):
    rgba = np.zeros((SIZE[1], SIZE[0], 4), dtype=np.uint8)
    rgba[:, :20] = (10, 120, 250, 255)  # opaque blue
    rgba[:, 20:] = (0, 0, 0, 0)  # fully transparent black
    rgba[:, 30:] = (0, 0, 0, 128)  # half transparent black -> mid grey
    Image.fromarray(rgba, "RGBA").save(tmp_path / f"a{suffix}", **({"lossless": True} if suffix == ".webp" else {}))
    array = _pixels(_decoded(tmp_path / f"a{suffix}"))
    assert tuple(array[3, 3]) == (10, 120, 250)
    assert tuple(array[3, 25]) == (255, 255, 255)
    assert all(abs(v - 127) <= 2 for v in array[3, 35])


def test_la_is_composited_on_white(tmp_path):
    la = np.zeros((SIZE[1], SIZE[0], 2), dtype=np.uint8)
    la[:, :20] = (60, 255)
    la[:, 20:] = (0, 0)
    Image.fromarray(la, "LA").save(tmp_path / "la.png")
    array = _pixels(_decoded(tmp_path / "la.png"))
    assert tuple(array[0, 0]) == (60, 60, 60)
    assert tuple(array[0, 39]) == (255, 255, 255)


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16_bit_grayscale_scales_the_full_range(tmp_path, suffix):
    img = Image.new("I;16", SIZE, 0)
    img.putpixel((0, 0), 65535)
    img.putpixel((1, 0), 32896)  # 128.5 / 255 of the range
    img.save(tmp_path / f"deep{suffix}")
    assert Image.open(tmp_path / f"deep{suffix}").mode.startswith("I")
    array = _pixels(_decoded(tmp_path / f"deep{suffix}"))
    assert tuple(array[0, 0]) == (255, 255, 255)
    assert array[0, 1, 0] in (128, 129)
    assert tuple(array[0, 2]) == (0, 0, 0)


def test_float_tiff_is_stretched_to_its_range(tmp_path):
    data = np.linspace(-1.0, 3.0, SIZE[0] * SIZE[1], dtype=np.float32).reshape(SIZE[1], SIZE[0])
    Image.fromarray(data, "F").save(tmp_path / "f.tif")
    array = _pixels(_decoded(tmp_path / "f.tif"))
    assert array[0, 0, 0] == 0 and array[-1, -1, 0] == 255


@pytest.mark.parametrize("suffix", [".jpg", ".tif"])
def test_cmyk_is_converted_to_rgb(tmp_path, suffix):
    original = generated_rgb(3, SIZE)
    original.convert("CMYK").save(tmp_path / f"cmyk{suffix}")
    assert Image.open(tmp_path / f"cmyk{suffix}").mode == "CMYK"
    img = _decoded(tmp_path / f"cmyk{suffix}")
    assert img.size == SIZE
    assert np.abs(_pixels(img) - _pixels(original)).mean() < 15


@pytest.mark.parametrize("draft", [None, (10, 10)])
def test_exif_orientation_is_applied(tmp_path, draft):
    original = Image.new("RGB", SIZE, (255, 255, 255))
    original.paste((255, 0, 0), (0, 0, 10, 10))  # red block top-left
    exif = original.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    original.save(tmp_path / "phone.jpg", exif=exif, quality=95)
    img = _decoded(tmp_path / "phone.jpg", draft_size=draft)
    width, height = img.size
    if draft is None:
        assert (width, height) == (SIZE[1], SIZE[0])  # swapped
    else:
        assert height > width >= 10  # still upright at the reduced draft scale
    array = _pixels(img)
    # rotating 90 degrees clockwise moves the top-left corner to the top-right
    assert array[1, width - 2, 0] > 200 and array[1, width - 2, 1] < 60
    assert array[1, 1, 1] > 200


def test_jpeg_draft_decodes_at_reduced_scale_but_never_below_the_request(tmp_path):
    generated_rgb(4, (400, 300)).save(tmp_path / "big.jpg")
    img = _decoded(tmp_path / "big.jpg", draft_size=(120, 90))
    assert 120 <= img.width < 400 and 90 <= img.height < 300
    generated_rgb(4, (400, 300)).save(tmp_path / "big.png")  # draft only affects JPEG
    assert _decoded(tmp_path / "big.png", draft_size=(120, 90)).size == (400, 300)


# --- files that cannot be used ------------------------------------------------------------------------
def _reason(path, **kwargs) -> str:
    with pytest.raises(ImageDecodeError) as info:
        load_rgb(path, **kwargs)
    reason = str(info.value)
    assert reason and "\n" not in reason and len(reason) < 200
    return reason


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_truncated_file_fails_instead_of_returning_grey(tmp_path, suffix):
    generated_rgb(5, (64, 64)).save(tmp_path / f"full{suffix}")
    data = (tmp_path / f"full{suffix}").read_bytes()
    (tmp_path / f"cut{suffix}").write_bytes(data[: len(data) // 2])
    assert "truncated" in _reason(tmp_path / f"cut{suffix}")


def test_non_image_with_image_extension(tmp_path):
    (tmp_path / "notes.jpg").write_text("this is not a picture\n")
    assert _reason(tmp_path / "notes.jpg") == "not an image file"


def test_empty_file(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    assert "empty" in _reason(tmp_path / "empty.png")


def test_missing_file(tmp_path):
    assert "not found" in _reason(tmp_path / "gone.png")


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    generated_rgb(6, (100, 80)).save(tmp_path / "bomb.png")
    reason = _reason(tmp_path / "bomb.png", max_pixels=5000)
    assert "oversized" in reason and "100x80" in reason and "5,000" in reason
    assert load_rgb(tmp_path / "bomb.png", max_pixels=8000).size == (100, 80)  # at the limit is fine
