"""Interop (tinygrad_sm/interop.py and the DLPack methods of Tensor): memory shared with NumPy and PyTorch, never copied."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_sm
from tinygrad_sm import Tensor

torch = pytest.importorskip("torch")

DTYPES = [np.float32, np.float64, np.int64, np.int32, np.uint8, np.bool_]


# ----- Tensor.from_numpy ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
def test_from_numpy_shares_memory_both_ways(dtype):
    array = np.arange(6).reshape(2, 3).astype(dtype)
    t = Tensor.from_numpy(array)
    assert t.data is array and t.dtype == dtype and t.shape == (2, 3)
    assert not t.requires_grad and t.is_leaf
    array[0, 0] = 1
    assert t.data[0, 0] == 1
    t.data[1, 2] = 0  # writing through the tensor changes the array
    assert array[1, 2] == 0


def test_from_numpy_keeps_zero_d_and_strided_arrays_and_behaves_as_pytorch():
    array = np.arange(12.0).reshape(3, 4)[:, ::2].T
    t = Tensor.from_numpy(array)
    reference = torch.from_numpy(array)
    assert np.shares_memory(t.data, array) and t.data.strides == array.strides
    np.testing.assert_array_equal((t * 2).data, (reference * 2).numpy())
    assert Tensor.from_numpy(np.array(2.5)).shape == ()


def test_from_numpy_tensor_can_become_a_parameter():
    array = np.array([1.0, 2.0, 3.0])
    w = Tensor.from_numpy(array).requires_grad_()
    (w * w).sum().backward()
    np.testing.assert_array_equal(w.grad.data, [2.0, 4.0, 6.0])


@pytest.mark.parametrize(
    "value, message",
    [
        ([1.0, 2.0], r"Tensor.from_numpy: expected a numpy.ndarray, got list \(Tensor\(data\) copies any array-like\)"),
        (np.float64(1.0), "Tensor.from_numpy: expected a numpy.ndarray, got float64"),
        (np.array(["a"]), "Tensor.from_numpy: the array must hold numbers or booleans, got dtype <U1"),
        (np.ones(2, dtype=np.complex64), "the array must hold numbers or booleans, got dtype complex64"),
    ],
)
def test_from_numpy_errors(value, message):
    with pytest.raises(TypeError, match=message):
        Tensor.from_numpy(value)


def test_big_endian_data_is_copied_into_the_machines_byte_order_and_never_shared():
    big = np.arange(3, dtype=">f4")
    x = Tensor(big)
    assert x.dtype == np.float32 and x.dtype.isnative and repr(x) == "Tensor([0., 1., 2.])"
    np.testing.assert_array_equal(torch.from_dlpack(x).numpy(), [0.0, 1.0, 2.0])
    with pytest.raises(ValueError, match=r"Tensor.from_numpy: the array's byte order \(>f4\) is not the machine's"):
        Tensor.from_numpy(big)  # (as torch.from_numpy)


# ----- Tensor.__dlpack__: PyTorch and NumPy read this library's memory ------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
def test_torch_from_dlpack_shares_the_tensors_memory(dtype):
    t = Tensor(np.arange(6).reshape(2, 3).astype(dtype))
    shared = torch.from_dlpack(t)
    assert tuple(shared.shape) == (2, 3) and shared.numpy().dtype == dtype
    assert shared.data_ptr() == t.data.ctypes.data
    shared[0, 1] = 0  # PyTorch writes, this library sees it
    assert t.data[0, 1] == 0
    t.data[1, 1] = 1
    assert shared[1, 1].item() == 1


def test_dlpack_keeps_strides_zero_d_and_read_only_views():
    x = Tensor(np.arange(12.0).reshape(3, 4))
    transposed = torch.from_dlpack(x.T)
    assert transposed.stride() == (1, 4) and transposed.data_ptr() == x.data.ctypes.data
    assert torch.from_dlpack(Tensor(2.5)).item() == 2.5
    expanded = Tensor(np.arange(3.0)).expand(2, 3)  # a read-only broadcast view: exported with stride 0
    assert torch.from_dlpack(expanded).stride() == (0, 1)


def test_a_view_with_a_negative_stride_is_exported_as_a_copy():
    # (PyTorch's from_dlpack aborts the whole process on a negative stride; its from_numpy refuses)
    x = Tensor(np.arange(6.0).reshape(2, 3))
    flipped = x[:, ::-1]
    np.testing.assert_array_equal(torch.from_dlpack(flipped).numpy(), flipped.data)
    np.testing.assert_array_equal(np.from_dlpack(flipped), flipped.data)
    with pytest.raises(BufferError, match="negative stride cannot be shared without a copy"):
        flipped.__dlpack__(copy=False)


def test_numpy_from_dlpack_shares_the_tensors_memory():
    t = Tensor(np.arange(4.0))
    array = np.from_dlpack(t)
    assert np.shares_memory(array, t.data)
    array[0] = 9.0
    assert t.data[0] == 9.0


def test_dlpack_copy_true_is_a_copy():
    t = Tensor(np.arange(3.0))
    copied = torch.from_dlpack(t, copy=True)
    copied[0] = 5.0
    assert t.data[0] == 0.0
    assert not np.shares_memory(np.from_dlpack(t, copy=True), t.data)


def test_dlpack_device_is_the_cpu():
    assert Tensor([1.0]).__dlpack_device__() == (1, 0)  # (kDLCPU, device 0)


def test_a_tensor_that_requires_grad_exports_its_data():
    # like .numpy() here (PyTorch refuses both and asks for detach()): the data is shared, the graph stays behind
    w = Tensor([1.0, 2.0], requires_grad=True)
    shared = torch.from_dlpack(w)
    assert not shared.requires_grad
    shared.mul_(2.0)
    np.testing.assert_array_equal(w.data, [2.0, 4.0])


# ----- tinygrad_sm.from_dlpack: this library reads PyTorch's (and NumPy's) memory -------------------------------------
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.int64, torch.uint8, torch.bool])
def test_from_dlpack_shares_a_torch_tensors_memory(dtype):
    source = torch.arange(6).reshape(2, 3).to(dtype)
    t = tinygrad_sm.from_dlpack(source)
    assert isinstance(t, Tensor) and t.shape == (2, 3) and t.data.dtype == source.numpy().dtype
    assert not t.requires_grad and t.data.ctypes.data == source.data_ptr()
    source[0, 0] = 1
    assert t.data[0, 0] == 1
    t.data[1, 2] = 0
    assert source[1, 2].item() == 0


def test_from_dlpack_of_strided_torch_tensors_ndarrays_and_tensors():
    source = torch.arange(12.0).reshape(3, 4).T
    t = tinygrad_sm.from_dlpack(source)
    np.testing.assert_array_equal(t.data, source.numpy())
    assert t.data.ctypes.data == source.data_ptr()
    array = np.arange(3.0)
    assert np.shares_memory(tinygrad_sm.from_dlpack(array).data, array)
    ours = Tensor([1.0, 2.0])
    assert np.shares_memory(tinygrad_sm.from_dlpack(ours).data, ours.data)


def test_from_dlpack_result_is_differentiable_once_asked():
    w = tinygrad_sm.from_dlpack(torch.tensor([1.0, -2.0], dtype=torch.float64)).requires_grad_()
    (w * w).sum().backward()
    np.testing.assert_array_equal(w.grad.data, [2.0, -4.0])


def test_from_dlpack_errors():
    with pytest.raises(TypeError, match="from_dlpack: expected an object with __dlpack__ .*, got list"):
        tinygrad_sm.from_dlpack([1.0, 2.0])
    with pytest.raises(BufferError, match=r"from_dlpack: Can't export tensors that require gradient, use tensor.detach\(\)"):
        tinygrad_sm.from_dlpack(torch.ones(2, requires_grad=True))
    with pytest.raises(TypeError, match="from_dlpack: the data must be numbers or booleans, got dtype complex64"):
        tinygrad_sm.from_dlpack(torch.ones(2, dtype=torch.complex64))
    assert "from_dlpack" in tinygrad_sm.__all__


def test_tensor_of_a_torch_tensor_keeps_its_dtype():
    # (Python floats become the default dtype; a float64 array-like stays float64, as an ndarray does)
    assert Tensor(torch.tensor([1.0, 2.0], dtype=torch.float64)).dtype == np.float64
    assert Tensor(torch.tensor(2.0, dtype=torch.float64)).dtype == np.float64
    assert Tensor(torch.tensor([1.0, 2.0])).dtype == np.float32
    assert Tensor([1.0, 2.0]).dtype == np.float32 and Tensor(2.0).dtype == np.float32
