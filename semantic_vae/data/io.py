"""Reading and writing single label PNGs.

A label PNG holds one class id per pixel: grayscale (mode L) with values 0..C-1, an
indexed (mode P) PNG whose palette indices are the ids, or a colourised RGB image in the
label set's palette. Every failure is a one-line `UserError`
that names the file; OpenCV's own messages and log lines never reach the user.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path

import cv2
import numpy as np

from semantic_vae.checks import as_path
from semantic_vae.errors import UserError
from semantic_vae.files import write_bytes_atomic
from semantic_vae.labels import CELEBAMASK_HQ, LabelSet, nearest_indices

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_INDEXED_COLOUR_TYPE = 3  # IHDR colour type of a palette PNG


@contextlib.contextmanager
def _quiet_opencv() -> Iterator[None]:
    """Silence OpenCV's log lines (e.g. "IHDR chunk shall be first") while decoding a broken file.

    The failure is reported as a UserError instead; the previous level is restored afterwards.
    """
    previous = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        cv2.utils.logging.setLogLevel(previous)


def decode_png(path: str | Path) -> np.ndarray:
    """The pixels of a PNG as OpenCV stores them: (H, W) or (H, W, 3|4) BGR(A), uint8 or uint16."""
    path = as_path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a directory, not a PNG file") from None
    except OSError as err:
        raise UserError(f"{path}: cannot read ({err.strerror or err})") from None
    if not data.startswith(PNG_SIGNATURE):
        raise UserError(f"{path}: not a PNG file ({len(data)} bytes, no PNG signature)")
    if len(data) > 25 and data[12:16] == b"IHDR" and data[25] == _INDEXED_COLOUR_TYPE:
        return _decode_indexed(data, path)
    with _quiet_opencv():
        try:
            image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        except cv2.error:
            image = None
    if image is None or image.size == 0:
        raise UserError(f"{path}: the PNG does not decode (truncated or corrupt)")
    return image


def _decode_indexed(data: bytes, path: Path) -> np.ndarray:
    """Palette indices of a mode P PNG (OpenCV would expand them to colours and lose the ids)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(BytesIO(data)) as image:
            return np.asarray(image, dtype=np.uint8)
    except (OSError, UnidentifiedImageError, ValueError):
        raise UserError(f"{path}: the PNG does not decode (truncated or corrupt)") from None


def resize_labels(labels: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """(..., H, W) labels -> size×size (or an (H, W) shape) with nearest-neighbour, so no new ids appear."""
    shape = (size, size) if isinstance(size, int) else tuple(size)
    h, w = labels.shape[-2:]
    if (h, w) == shape:
        return labels
    return labels[..., nearest_indices(h, shape[0])[:, None], nearest_indices(w, shape[1])]


def _is_gray(bgr: np.ndarray) -> bool:
    return bool(np.array_equal(bgr[..., 0], bgr[..., 1]) and np.array_equal(bgr[..., 1], bgr[..., 2]))


def _check_range(labels: np.ndarray, label_set: LabelSet, path: Path) -> None:
    last = label_set.num_classes - 1
    top = int(labels.max())
    if top > last:
        count = int(np.count_nonzero(labels > last))
        raise UserError(
            f"{path}: label value {top} is beyond the last id {last} of '{label_set.name}' "
            f"({count} pixels above {last})"
        )


def pixels_to_labels(image: np.ndarray, label_set: LabelSet, path: Path) -> np.ndarray:
    """Decoded PNG pixels -> (H, W) uint8 labels, checked against the label set.

    A 16-bit grayscale PNG is read like an 8-bit one when its values are ids of the label set (some export
    tools write label maps in 16 bits); colour PNGs must be 8-bit, as palettes are.
    """
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.ndim == 2:
        _check_range(image, label_set, path)
        return image.astype(np.uint8, copy=False)
    if image.dtype != np.uint8:
        raise UserError(f"{path}: a colour label PNG must be 8-bit, got {8 * image.dtype.itemsize}-bit")
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise UserError(f"{path}: expected a grayscale or RGB label PNG, got shape {image.shape}")
    bgr = image[..., :3]  # an alpha channel carries no label
    if _is_gray(bgr):
        gray = bgr[..., 0]
        # A palette colour with equal channels (a grey) can only be read through the palette.
        if int(gray.max()) < label_set.num_classes:
            return np.ascontiguousarray(gray)
        try:
            return label_set.decolorize(bgr[..., ::-1], source=str(path))
        except UserError:
            _check_range(gray, label_set, path)
            raise
    return label_set.decolorize(bgr[..., ::-1], source=str(path))


def read_label_png(path: str | Path, label_set: LabelSet = CELEBAMASK_HQ, size: int | None = None) -> np.ndarray:
    """(H, W) uint8 labels from a grayscale or colourised label PNG; resized to size×size (nearest) if given."""
    path = as_path(path)
    if not isinstance(label_set, LabelSet):
        raise UserError(f"label_set: expected a LabelSet (e.g. semantic_vae.labels.CELEBAMASK_HQ), got {label_set!r}")
    if size is not None and (isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size <= 0):
        raise UserError(f"size must be a whole number of pixels >= 1, got {size!r}")
    labels = pixels_to_labels(decode_png(path), label_set, path)
    return labels if size is None else resize_labels(labels, size)


def read_binary_png(path: str | Path) -> np.ndarray:
    """(H, W) bool: the non-zero pixels of a 1- or 3-channel part mask (alpha ignored)."""
    image = decode_png(path)
    if image.ndim == 2:
        return image != 0
    if image.shape[2] == 1:
        return image[..., 0] != 0
    return (image[..., 0] | image[..., 1] | image[..., 2]) != 0  # three planes or'ed: no reduction over the last axis


def encode_png(image: np.ndarray, path: str | Path) -> bytes:
    ok, buf = cv2.imencode(".png", image)
    if not ok:
        raise UserError(f"{path}: could not encode a PNG of shape {image.shape}")
    return buf.tobytes()


def _as_label_map(labels: np.ndarray, path: Path) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim == 3 and labels.shape[-1] == 1:
        labels = labels[..., 0]  # (H, W, 1): a channel axis
    if labels.dtype == np.bool_ or not np.issubdtype(labels.dtype, np.integer):
        raise UserError(f"{path}: a label map holds integer ids, got dtype {labels.dtype}")
    if labels.ndim != 2:
        raise UserError(f"{path}: a label map must be 2-D (H, W), got shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() > 255):
        raise UserError(f"{path}: label values must lie in 0..255 for a PNG, got {labels.min()}..{labels.max()}")
    return labels.astype(np.uint8, copy=False)


def check_png_name(path: str | Path, what: str = "--out") -> Path:
    """A path to write a PNG to must end in .png (a PNG under another name misleads every later reader)."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise UserError(f"{what} {path}: a PNG is written here; give a file name ending in .png")
    return path


def write_label_png(path: str | Path, labels: np.ndarray) -> None:
    """Write (H, W) labels as a mode L PNG, atomically (a reader never sees half a file)."""
    path = as_path(path)
    write_bytes_atomic(path, encode_png(_as_label_map(labels, path), path))


def write_rgb_png(path: str | Path, rgb: np.ndarray) -> None:
    """Write an (H, W, 3) uint8 RGB image as a PNG, atomically."""
    path = as_path(path)
    write_bytes_atomic(path, encode_png(np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8)[..., ::-1]), path))


def write_color_png(path: str | Path, labels: np.ndarray, label_set: LabelSet = CELEBAMASK_HQ) -> None:
    """Write (H, W) labels colourised with the label set's palette as an RGB PNG, atomically."""
    path = as_path(path)
    try:
        rgb = label_set.colorize(_as_label_map(labels, path))
    except UserError as err:
        raise UserError(f"{path}: {err}") from None
    write_rgb_png(path, rgb)


def png_shape(path: str | Path) -> tuple[int, int] | None:
    """(H, W) from a PNG's header without decoding it; None when the header is unreadable."""
    try:
        with open(path, "rb") as f:
            head = f.read(24)
    except OSError:
        return None
    if len(head) < 24 or not head.startswith(PNG_SIGNATURE) or head[12:16] != b"IHDR":
        return None
    return int.from_bytes(head[20:24], "big"), int.from_bytes(head[16:20], "big")
