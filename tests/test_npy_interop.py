"""libtsrt's .npy reader/writer (tsrt._C.load_npy / save_npy) against numpy itself.

For every dtype numpy and torch share, in three shapes: numpy writes and C++ reads,
C++ writes and numpy reads, and C++ writes the very bytes np.save writes. Then the
byte orders and format versions numpy can produce, and the files tsrt must refuse.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch

import tsrt
from errors import raises_tsrt
from tsrt import _C

DTYPES = ["bool", "uint8", "int8", "int16", "int32", "int64", "uint16", "uint32", "uint64",
          "float16", "float32", "float64", "complex64", "complex128"]
SHAPES = [(), (0, 3), (2, 3, 4)]

TORCH_DTYPES = {
    "bool": torch.bool, "uint8": torch.uint8, "int8": torch.int8, "int16": torch.int16, "int32": torch.int32,
    "int64": torch.int64, "uint16": torch.uint16, "uint32": torch.uint32, "uint64": torch.uint64,
    "float16": torch.float16, "float32": torch.float32, "float64": torch.float64,
    "complex64": torch.complex64, "complex128": torch.complex128,
}


def sample(dtype: str, shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """Values spread over the dtype's range (negatives, large magnitudes, fractions)."""
    rng = np.random.default_rng(seed)
    np_dtype = np.dtype(dtype)
    if np_dtype == np.bool_:
        values = rng.integers(0, 2, size=shape).astype(np.bool_)
    elif np_dtype.kind in "iu":
        info = np.iinfo(np_dtype)
        values = rng.integers(info.min, info.max, size=shape, dtype=np_dtype, endpoint=True)
    elif np_dtype.kind == "f":
        values = (rng.standard_normal(size=shape) * 1000).astype(np_dtype)
    else:
        values = (rng.standard_normal(size=shape) * 1000 + 1j * rng.standard_normal(size=shape)).astype(np_dtype)
    # Arithmetic on 0-d arrays gives numpy scalars: make it an ndarray again.
    return np.asarray(values, dtype=np_dtype).reshape(shape)


def as_numpy(tensor: torch.Tensor) -> np.ndarray:
    assert isinstance(tensor, torch.Tensor)
    return tensor.numpy()


def assert_same_array(actual: np.ndarray, expected: np.ndarray) -> None:
    assert actual.dtype == expected.dtype, f"dtype {actual.dtype} != {expected.dtype}"
    assert actual.shape == expected.shape, f"shape {actual.shape} != {expected.shape}"
    np.testing.assert_array_equal(actual, expected, strict=True)




# ---- every shared dtype, both directions ----------------------------------------------


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES)
def test_numpy_writes_cpp_reads(tmp_path, dtype, shape):
    array = sample(dtype, shape)
    path = tmp_path / "a.npy"
    np.save(path, array)
    tensor = _C.load_npy(str(path))
    assert tensor.dtype == TORCH_DTYPES[dtype]
    assert tuple(tensor.shape) == shape
    assert tensor.is_contiguous()
    assert_same_array(as_numpy(tensor), array)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES)
def test_cpp_writes_numpy_reads_same_bytes(tmp_path, dtype, shape):
    array = sample(dtype, shape, seed=1)
    tensor = torch.from_numpy(array.copy())
    assert tensor.dtype == TORCH_DTYPES[dtype]
    ours, theirs = tmp_path / "cpp.npy", tmp_path / "numpy.npy"
    _C.save_npy(str(ours), tensor)
    assert_same_array(np.load(ours), array)
    np.save(theirs, array)
    assert ours.read_bytes() == theirs.read_bytes()


def test_bool_nonzero_bytes_read_as_true(tmp_path):
    """numpy reads any nonzero byte of a bool array as True; torch needs 0/1."""
    path = tmp_path / "b.npy"
    np.save(path, np.array([True, False, True, True]))
    data = bytearray(path.read_bytes())
    data[-4:] = bytes([2, 0, 255, 1])
    path.write_bytes(bytes(data))
    tensor = _C.load_npy(str(path))
    assert tensor.tolist() == [True, False, True, True]
    assert tensor.view(torch.uint8).tolist() == [1, 0, 1, 1]


def test_special_float_values_round_trip(tmp_path):
    array = np.array([np.nan, np.inf, -np.inf, -0.0, np.finfo(np.float32).tiny / 2, 1e38], dtype=np.float32)
    path = tmp_path / "f.npy"
    np.save(path, array)
    loaded = as_numpy(_C.load_npy(str(path)))
    assert loaded.tobytes() == array.tobytes()
    out = tmp_path / "g.npy"
    _C.save_npy(str(out), torch.from_numpy(array))
    assert out.read_bytes() == path.read_bytes()


def test_save_non_contiguous_tensor(tmp_path):
    base = torch.arange(24, dtype=torch.int32).reshape(4, 6)
    view = base.t()[1:, ::2]
    assert not view.is_contiguous()
    ours, theirs = tmp_path / "cpp.npy", tmp_path / "numpy.npy"
    _C.save_npy(str(ours), view)
    np.save(theirs, view.numpy())
    assert ours.read_bytes() == theirs.read_bytes()


def test_save_conjugate_and_negative_views(tmp_path):
    z = torch.tensor([1 + 2j, -3 - 4j], dtype=torch.complex64)
    conj = z.conj()
    assert conj.is_conj()
    path = tmp_path / "c.npy"
    _C.save_npy(str(path), conj)
    np.testing.assert_array_equal(np.load(path), np.array([1 - 2j, -3 + 4j], dtype=np.complex64))
    neg = conj.imag
    assert neg.is_neg()
    _C.save_npy(str(path), neg)
    np.testing.assert_array_equal(np.load(path), np.array([-2.0, 4.0], dtype=np.float32))


def test_save_tensor_requiring_grad(tmp_path):
    w = torch.tensor([1.5, -2.5], requires_grad=True)
    path = tmp_path / "w.npy"
    _C.save_npy(str(path), w * 2)
    np.testing.assert_array_equal(np.load(path), np.array([3.0, -5.0], dtype=np.float32))


def test_save_replaces_existing_file(tmp_path):
    path = tmp_path / "r.npy"
    path.write_bytes(b"x" * 10_000)
    _C.save_npy(str(path), torch.ones(2))
    np.testing.assert_array_equal(np.load(path), np.ones(2, dtype=np.float32))


# ---- byte order and format versions ----------------------------------------------


@pytest.mark.parametrize("descr", [">i4", ">f8", ">u2", ">c16", ">f2"])
def test_big_endian_read(tmp_path, descr):
    native = sample(np.dtype(descr).newbyteorder("=").name, (3, 5), seed=2)
    big = native.astype(descr)
    assert big.dtype.byteorder == ">"
    path = tmp_path / "be.npy"
    np.save(path, big)
    tensor = _C.load_npy(str(path))
    assert tensor.dtype == TORCH_DTYPES[native.dtype.name]
    assert_same_array(as_numpy(tensor), native)


@pytest.mark.parametrize("version", [(2, 0), (3, 0)])
def test_format_versions_read(tmp_path, version):
    array = sample("float64", (2, 3, 4), seed=3)
    path = tmp_path / "v.npy"
    with open(path, "wb") as f:
        np.lib.format.write_array(f, array, version=version)
    assert path.read_bytes()[6:8] == bytes(version)
    assert_same_array(as_numpy(_C.load_npy(str(path))), array)


def test_written_file_is_version_1(tmp_path):
    path = tmp_path / "v1.npy"
    _C.save_npy(str(path), torch.zeros(2, 2))
    with open(path, "rb") as f:
        assert np.lib.format.read_magic(f) == (1, 0)


# ---- refused files -----------------------------------------------------------------


def _save_bytes(path: Path, array: np.ndarray, **kwargs) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, **kwargs)
    path.write_bytes(buffer.getvalue())
    return buffer.getvalue()


def test_fortran_order_refused(tmp_path):
    path = tmp_path / "f.npy"
    array = np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3))
    _save_bytes(path, array)
    assert np.load(path).flags.f_contiguous  # numpy did write a Fortran-order file
    with raises_tsrt("invalid_argument", str(path), "Fortran", "np.ascontiguousarray"):
        _C.load_npy(str(path))


def test_object_array_refused(tmp_path):
    path = tmp_path / "o.npy"
    _save_bytes(path, np.array([1, "two", None], dtype=object), allow_pickle=True)
    with raises_tsrt("invalid_argument", str(path), "object", "astype"):
        _C.load_npy(str(path))


def test_truncated_data_refused(tmp_path):
    path = tmp_path / "t.npy"
    data = _save_bytes(path, np.arange(12, dtype=np.int64).reshape(3, 4))
    path.write_bytes(data[:-5])
    with raises_tsrt("invalid_argument", str(path), "truncated", "91 bytes", "needs 96 bytes"):
        _C.load_npy(str(path))


def test_trailing_bytes_refused(tmp_path):
    path = tmp_path / "x.npy"
    data = _save_bytes(path, np.arange(12, dtype=np.int64).reshape(3, 4))
    path.write_bytes(data + b"\0\0\0")
    with raises_tsrt("invalid_argument", str(path), "trailing data", "99 bytes"):
        _C.load_npy(str(path))


def test_truncated_header_refused(tmp_path):
    path = tmp_path / "h.npy"
    data = _save_bytes(path, np.zeros(3))
    path.write_bytes(data[:40])
    with raises_tsrt("invalid_argument", str(path), "truncated"):
        _C.load_npy(str(path))


def test_not_npy_refused(tmp_path):
    path = tmp_path / "n.npy"
    path.write_text("hello")
    with raises_tsrt("invalid_argument", str(path), "not a .npy file"):
        _C.load_npy(str(path))


def test_npz_refused_with_hint(tmp_path):
    path = tmp_path / "z.npz"
    np.savez(path, a=np.zeros(2))
    with raises_tsrt("invalid_argument", ".npz"):
        _C.load_npy(str(path))


def test_string_array_refused(tmp_path):
    path = tmp_path / "s.npy"
    _save_bytes(path, np.array(["a", "bc"]))
    with raises_tsrt("invalid_argument", "strings"):
        _C.load_npy(str(path))


def test_missing_file(tmp_path):
    path = tmp_path / "missing.npy"
    with raises_tsrt("io", str(path)):
        _C.load_npy(str(path))


def test_save_to_missing_directory(tmp_path):
    path = tmp_path / "no" / "such" / "dir.npy"
    with raises_tsrt("io", str(path)):
        _C.save_npy(str(path), torch.zeros(1))


def test_save_bfloat16_refused(tmp_path):
    path = tmp_path / "bf.npy"
    with raises_tsrt("invalid_argument", "bfloat16", "float32"):
        _C.save_npy(str(path), torch.ones(2, dtype=torch.bfloat16))
    assert not path.exists()


@pytest.mark.parametrize("value", ["not a tensor", None, 3.5], ids=["str", "None", "float"])
def test_save_non_tensor_refused(tmp_path, value):
    """A non-tensor is a caller error: tsrt.Error('invalid_argument'), not LibTorch's
    c10::Error leaking out as a bare RuntimeError with a C++ backtrace."""
    path = tmp_path / "n.npy"
    with pytest.raises(RuntimeError) as info:
        _C.save_npy(str(path), value)
    error = info.value
    assert isinstance(error, tsrt.Error), (
        f"save_npy({value!r}) raised a plain {type(error).__name__}, not tsrt.Error: {str(error)[:200]}")
    assert error.code == "invalid_argument"
    assert "Exception raised from" not in str(error)  # no C++ backtrace
    assert not path.exists()
