"""A stand-in for `tensorrt` and cuda-python's runtime, in numpy, to test radseg's control flow without a GPU.

It implements only the calls radseg makes, as the TensorRT 10 documentation describes them; "device" memory is
host memory (ctypes buffers), so cudaMemcpyAsync is a memmove. The engine computes the tiny test net
(`tests.backends.tiny_model.reference_logits`, for 3-channel inputs) plus ``OFFSET``. Passing these tests says
radseg's logic is right under that reading of the API; it says nothing about TensorRT itself.
"""
from __future__ import annotations

import ctypes
import json
import types

import numpy as np

from tests.backends.tiny_model import reference_logits

OFFSET = {"value": 0.0}  # added to every logit by engines built while it is set (tests of failed validation)


class FakeCudart:
    class cudaError_t:
        cudaSuccess = 0

    class cudaMemcpyKind:
        cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost = 1, 2

    def __init__(self, name=b"NVIDIA Fake GPU\x00\x00", cc=(8, 9), devices=1):
        self.mem, self.mallocs, self.frees, self.props = {}, 0, 0, types.SimpleNamespace(name=name, major=cc[0], minor=cc[1])
        self.devices = devices

    def cudaGetDeviceCount(self):
        return (0, self.devices)

    def cudaGetDeviceProperties(self, d):
        return (0, self.props)

    def cudaGetErrorString(self, err):
        return (0, f"fake error {err}")

    def cudaSetDevice(self, d):
        return (0,)

    def cudaMalloc(self, n):
        buf = ctypes.create_string_buffer(int(n))
        self.mem[ctypes.addressof(buf)] = buf
        self.mallocs += 1
        return (0, ctypes.addressof(buf))

    def cudaFree(self, ptr):
        self.mem.pop(ptr)
        self.frees += 1
        return (0,)

    def cudaMemcpyAsync(self, dst, src, n, kind, stream):
        ctypes.memmove(dst, src, n)
        return (0,)

    def cudaStreamCreate(self):
        return (0, 7)

    def cudaStreamSynchronize(self, s):
        return (0,)

    def cudaStreamDestroy(self, s):
        return (0,)


class _Context:
    def __init__(self, engine):
        self.engine, self.shapes, self.addresses, self.shape_calls = engine, {}, {}, 0

    def set_input_shape(self, name, shape):
        self.shape_calls += 1
        lo, _, hi = self.engine.profile[name]
        if not all(a <= s <= b for a, s, b in zip(lo, shape, hi)):
            return False
        self.shapes[name] = tuple(shape)
        return True

    def get_tensor_shape(self, name):
        n, _, h, w = self.shapes[self.engine.inp]
        return (n, 1, h, w)

    def set_tensor_address(self, name, ptr):
        self.addresses[name] = ptr

    def execute_async_v3(self, stream_handle):
        assert isinstance(stream_handle, int)
        shape = self.shapes[self.engine.inp]
        n = int(np.prod(shape)) * 4
        x = np.frombuffer((ctypes.c_char * n).from_address(self.addresses[self.engine.inp]), np.float32).reshape(shape)
        y = np.ascontiguousarray(reference_logits(x) + np.float32(self.engine.offset), np.float32)
        ctypes.memmove(self.addresses[self.engine.out], y.ctypes.data, y.nbytes)
        return True


class _Engine:
    def __init__(self, spec):
        self.inp, self.out = spec["io"]
        self.offset = spec["offset"]
        self.profile = {self.inp: tuple(tuple(s) for s in spec["profile"])}
        self.num_io_tensors = 2

    def get_tensor_name(self, i):
        return (self.inp, self.out)[i]

    def get_tensor_mode(self, name):
        return "INPUT" if name == self.inp else "OUTPUT"

    def get_tensor_dtype(self, name):
        return "float32"

    def get_tensor_profile_shape(self, name, index):
        return [list(s) for s in self.profile[name]]

    def create_execution_context(self):
        return _Context(self)


def make_tensorrt(version="10.3.0", input_name="image_guidance", output_name="logits"):
    """A module object that `import tensorrt` can return (put it in sys.modules)."""
    trt = types.ModuleType("tensorrt")
    trt.__version__ = version
    trt.built = []  # (precision flags, profile) of every build
    trt.Logger = type("Logger", (), {"WARNING": 2, "__init__": lambda self, level=None: None})
    trt.TensorIOMode = types.SimpleNamespace(INPUT="INPUT", OUTPUT="OUTPUT")
    trt.MemoryPoolType = types.SimpleNamespace(WORKSPACE="WORKSPACE")
    trt.BuilderFlag = types.SimpleNamespace(FP16="FP16", INT8="INT8", TF32="TF32")
    trt.nptype = lambda dtype: np.float32

    class Runtime:
        def __init__(self, logger):
            pass

        def deserialize_cuda_engine(self, data):
            try:
                return _Engine(json.loads(bytes(data)))
            except ValueError:
                return None

    class Config:
        def __init__(self):
            self.flags, self.cache, self.profile = {"TF32"}, None, None

        def set_memory_pool_limit(self, pool, size):
            self.workspace = size

        def set_flag(self, f):
            self.flags.add(f)

        def clear_flag(self, f):
            self.flags.discard(f)

        def add_optimization_profile(self, p):
            self.profile = p

        def create_timing_cache(self, data):
            return types.SimpleNamespace(data=bytes(data), serialize=lambda: b"fake timing cache")

        def set_timing_cache(self, cache, ignore_mismatch):
            self.cache = cache
            return True

        def get_timing_cache(self):
            return self.cache

    class Profile(dict):
        def set_shape(self, name, lo, opt, hi):
            self[name] = (tuple(lo), tuple(opt), tuple(hi))

    class Builder:
        def __init__(self, logger):
            pass

        def create_network(self, flags):
            assert flags == 0
            return types.SimpleNamespace()

        def create_builder_config(self):
            return Config()

        def create_optimization_profile(self):
            return Profile()

        def build_serialized_network(self, network, config):
            (name, (lo, _, hi)), = config.profile.items()
            trt.built.append((sorted(config.flags), dict(config.profile)))
            return json.dumps({"io": [input_name, output_name], "offset": OFFSET["value"],
                               "profile": [lo, lo, hi]}).encode()

    class OnnxParser:
        def __init__(self, network, logger):
            self.num_errors = 0

        def parse_from_file(self, path):
            return True

    trt.Runtime, trt.Builder, trt.OnnxParser = Runtime, Builder, OnnxParser
    return trt
