"""The Python stream facade (executorch_tensorrt.runtime.streams) against a fake of the
library's C API: the context manager restores previous bindings, a failed batch leaves
nothing bound and runs no block, errors carry ExecuTorch's codes. No GPU, no library."""

import pytest

from executorch_tensorrt.runtime import streams

OK, INVALID_STATE, NOT_SUPPORTED, NOT_FOUND = 0, 0x02, 0x10, 0x20
PER_THREAD = 2  # cudaStreamPerThread's handle value


class FakeLib:
    """Two loaded methods: 1 (one delegate) and 2 (two delegates). Streams are ints;
    binding PER_THREAD fails like the real library, all or nothing."""

    def __init__(self):
        self.bound = {(1, 0): None, (2, 0): None, (2, 1): None}
        self.passthrough = 0
        self.current = None

    def _targets(self, m, i):
        if i == streams.ALL_DELEGATES:
            return [t for t in self.bound if t[0] == m]
        return [(m, i)] if (m, i) in self.bound else []

    def etrt_find_method(self, name, out):
        if name != b"forward":
            return NOT_FOUND
        out._obj.value = 2
        return OK

    def etrt_num_delegates(self, m, out):
        n = len(self._targets(m, streams.ALL_DELEGATES))
        out._obj.value = n
        return OK if n else NOT_FOUND

    def etrt_bound_stream(self, m, i, out):
        if (m, i) not in self.bound:
            return NOT_FOUND
        out._obj.value = self.bound[(m, i)]
        return OK

    def etrt_bind_stream(self, m, i, s):
        return self.etrt_bind_streams([m], [i], [s], 1)

    def etrt_bind_streams(self, methods, indices, ss, n):
        new = dict(self.bound)
        for k in range(n):
            targets = self._targets(methods[k], indices[k])
            if not targets:
                return NOT_FOUND
            if ss[k] == PER_THREAD:
                return NOT_SUPPORTED
            for t in targets:
                new[t] = ss[k]
        self.bound = new
        return OK

    def etrt_clear_stream(self, m, i):
        for t in self._targets(m, i):
            self.bound[t] = None
        return OK

    def etrt_set_stream_passthrough(self, on):
        self.passthrough = on
        return OK

    def etrt_stream_passthrough(self):
        return self.passthrough

    def etrt_set_current_stream(self, s):
        if s == PER_THREAD:
            return NOT_SUPPORTED
        self.current = s
        return OK

    def etrt_clear_current_stream(self, device):
        self.current = None
        return OK

    def etrt_set_cuda_graphs(self, m, i, on):
        if on and any(self.bound[t] for t in self._targets(m, i)):
            return INVALID_STATE
        return OK

    def etrt_cuda_graphs(self, m, i, out):
        out._obj.value = 0
        return OK


@pytest.fixture
def lib():
    fake = FakeLib()
    streams._set_library(fake)
    yield fake
    streams._set_library(None)


def test_bound_streams_restores_previous_bindings(lib):
    lib.bound[(2, 0)] = 0x500  # bound before the block
    method = streams.find_method("forward")
    with streams.bound_streams({(1, 0): 0x100, (method, streams.ALL_DELEGATES): 0x200}):
        assert lib.bound == {(1, 0): 0x100, (2, 0): 0x200, (2, 1): 0x200}
        assert streams.bound_stream(2, 1) == 0x200
    assert lib.bound == {(1, 0): None, (2, 0): 0x500, (2, 1): None}


def test_restores_when_the_block_raises(lib):
    with pytest.raises(KeyError):
        with streams.bound_streams({(1, 0): 0x100}):
            raise KeyError("boom")
    assert lib.bound[(1, 0)] is None


def test_a_failed_batch_binds_nothing_and_skips_the_block(lib):
    ran = []
    with pytest.raises(streams.StreamError) as info:
        with streams.bound_streams({(1, 0): 0x100, (2, 1): PER_THREAD}):
            ran.append(True)
    assert not ran
    assert info.value.name == "NotSupported"
    assert all(s is None for s in lib.bound.values())


def test_errors_carry_executorch_codes(lib):
    with pytest.raises(streams.StreamError) as info:
        streams.find_method("decode")
    assert info.value.code == NOT_FOUND and "NotFound" in str(info.value)
    streams.bind_stream(1, 0, 0x100)
    with pytest.raises(streams.StreamError) as info:
        streams.set_cuda_graphs(1, 0, True)
    assert info.value.name == "InvalidState"


def test_passthrough_context_restores_the_switch(lib):
    with streams.passthrough(0x300, device=0):
        assert streams.stream_passthrough() and lib.current == 0x300
    assert not streams.stream_passthrough() and lib.current is None
    with pytest.raises(streams.StreamError):
        with streams.passthrough(PER_THREAD, device=0):
            pass
    assert not streams.stream_passthrough()
