"""Checking and converting Python arguments to the C types of include/tsdb.h.

ctypes truncates out-of-range integers silently and cuts strings at a NUL byte, so every
integer is range-checked and every string NUL-checked here before it reaches C. Wrong types
raise TypeError; right types with bad values raise InvalidArgument (a ValueError).
"""

import array
import ctypes
import operator
import os
import sys

from .errors import InvalidArgument

I64_MIN = -(1 << 63)
I64_MAX = (1 << 63) - 1
U32_MAX = (1 << 32) - 1
U64_MAX = (1 << 64) - 1

_LITTLE = sys.byteorder == "little"
_NATIVE_PREFIXES = ("@", "=", "<") if _LITTLE else ("@", "=", ">", "!")

# An aligned, valid address to pass with n = 0, so that the library, not this package,
# reports an empty batch (with its own message).
_EMPTY = (ctypes.c_int64 * 1)()
_EMPTY_ADDR = ctypes.addressof(_EMPTY)


def integer(v, what, lo, hi):
    """``v`` as an int in ``lo..=hi``: TypeError for non-integers, InvalidArgument outside."""
    if type(v) is not int:
        try:
            v = operator.index(v)
        except TypeError:
            raise TypeError(f"{what} must be an int, not {type(v).__name__}") from None
    if not lo <= v <= hi:
        raise InvalidArgument(f"{what} out of range ({lo}..={hi}): {v}")
    return v


def metric_id(v):
    return integer(v, "metric id", 0, U64_MAX)


def timestamp(v, what="timestamp"):
    return integer(v, what, I64_MIN, I64_MAX)


def value(v):
    """A point's value as a float: any real number, not a string."""
    if type(v) is float:
        return v
    if isinstance(v, (str, bytes, bytearray)):
        raise TypeError(f"value must be a real number, not {type(v).__name__}")
    try:
        return float(v)
    except TypeError:
        raise TypeError(f"value must be a real number, not {type(v).__name__}") from None
    except OverflowError:
        raise InvalidArgument(f"value too large for a double: {v}") from None


def name(v, what="metric name"):
    """A metric name (or prefix) as NUL-terminated UTF-8 bytes (str, or bytes holding
    UTF-8)."""
    if isinstance(v, str):
        try:
            b = v.encode("utf-8")
        except UnicodeEncodeError as e:
            raise InvalidArgument(f"{what} is not valid UTF-8: {e}") from None
    elif isinstance(v, (bytes, bytearray)):
        b = bytes(v)
    else:
        raise TypeError(f"{what} must be str or bytes, not {type(v).__name__}")
    if b"\0" in b:
        raise InvalidArgument(f"{what} contains a NUL byte: {v!r}")
    return b


def path(v):
    """A database path (str, bytes or os.PathLike) as bytes for ``ts_open``."""
    try:
        b = os.fsencode(v)
    except TypeError:
        raise TypeError(f"path must be str, bytes or os.PathLike, not {type(v).__name__}") \
            from None
    if b"\0" in b:
        raise InvalidArgument(f"path contains a NUL byte: {v!r}")
    return b


def _fast_format(mv, code):
    """Whether memoryview ``mv`` already holds native C-contiguous int64 (``code`` 'q')
    or double ('d') elements in one dimension, so its memory can be passed as is."""
    if mv.ndim != 1 or mv.itemsize != 8 or not mv.c_contiguous:
        return False
    fmt = mv.format
    if len(fmt) == 2 and fmt[0] in _NATIVE_PREFIXES:
        fmt = fmt[1]
    if code == "q":
        return fmt in ("q", "l", "n", "i")  # signed; itemsize 8 was checked above
    return fmt == "d"


def column(obj, code, ctype, what):
    """``obj`` as C-contiguous native int64 (``code`` 'q') or double ('d') memory.

    Returns ``(keepalive, address, length)``; the memory stays valid and unmoved while
    ``keepalive`` lives (for a writable buffer it holds a buffer export, so e.g. an
    ``array.array`` cannot be resized by another thread meanwhile). Buffers of the right
    format are passed without copying (read-only ones are copied once, with memcpy);
    anything else (other buffer formats, lists, tuples, ranges, iterables) is converted
    to an ``array.array``. No Python work per element for buffers of the right format.
    """
    if type(obj) is array.array and obj.itemsize == 8 and (
            obj.typecode == code or (code == "q" and obj.typecode == "l")):
        n = len(obj)  # the common case, made cheap: a memoryview pins the array's memory
        if n:
            return memoryview(obj), obj.buffer_info()[0], n
    if isinstance(obj, (str, bytes, bytearray)):
        raise TypeError(
            f"{what} must be an array or sequence of numbers, not {type(obj).__name__} "
            f"(raw native data can be passed as memoryview(data).cast({code!r}))")
    try:
        mv = memoryview(obj)
    except TypeError:
        mv = None
    if mv is not None:
        if _fast_format(mv, code):
            n = len(mv)
            if n == 0:
                return None, _EMPTY_ADDR, 0
            if not mv.readonly:
                keep = (ctype * n).from_buffer(mv)
                address = ctypes.addressof(keep)
                if address % 8 == 0:
                    return keep, address, n
            keep = (ctype * n).from_buffer_copy(mv)  # read-only or misaligned: copy
            return keep, ctypes.addressof(keep), n
        if mv.ndim != 1:
            raise TypeError(f"{what} must be one-dimensional, got {mv.ndim} dimensions")
        if mv.format.lstrip("@=<>!") in ("B", "b", "c"):
            raise TypeError(
                f"{what} is a buffer of bytes (format {mv.format!r}); cast it to native "
                f"{'int64' if code == 'q' else 'double'} first: memoryview(data).cast({code!r})")
        # Another numeric format (int32, float32, big-endian...): converted below, by
        # iterating the object itself (memoryview cannot iterate every format).
    try:
        arr = array.array(code, obj)
    except TypeError as e:
        raise TypeError(f"{what}: {e}") from None
    except (NotImplementedError, ValueError) as e:
        raise TypeError(f"{what}: cannot convert: {e}") from None
    except OverflowError as e:
        raise InvalidArgument(f"{what}: out of range for "
                              f"{'int64' if code == 'q' else 'double'}: {e}") from None
    n = len(arr)
    if n == 0:
        return None, _EMPTY_ADDR, 0
    return arr, arr.buffer_info()[0], n


def timestamps(obj):
    return column(obj, "q", ctypes.c_int64, "timestamps")


def values(obj):
    return column(obj, "d", ctypes.c_double, "values")
