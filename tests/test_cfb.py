"""The CFB writer, read back by olefile (an independent reader)."""

from __future__ import annotations

import io
import random

import olefile
import pytest

from xhht_xl.excel import cfb


def _streams(tree, prefix=()):
    for name, value in tree.items():
        if isinstance(value, dict):
            yield from _streams(value, (*prefix, name))
        else:
            yield "/".join((*prefix, name)), value


def _tree(seed: int) -> dict:
    rnd = random.Random(seed)
    blob = lambda n: bytes(rnd.getrandbits(8) for _ in range(n))  # noqa: E731
    return {
        "PROJECT": blob(471),
        "PROJECTwm": b"",
        "VBA": {
            "dir": blob(4096),  # exactly the cutoff: a regular stream
            "_VBA_PROJECT": b"\xcc\x61\xff\xff\x00\x01\x00",
            "small": blob(4095),  # just below: the mini stream
            "big": blob(70_000),  # several FAT sectors of data
            **{f"Module{i}": blob(rnd.randint(1, 9000)) for i in range(20)},
            "Sub": {"deep": blob(64), "deeper": {"x": blob(65)}},
        },
    }


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_olefile_reads_back_every_stream_exactly(seed):
    tree = _tree(seed)
    data = cfb.write(tree)
    ole = olefile.OleFileIO(io.BytesIO(data))
    expected = dict(_streams(tree))
    found = {"/".join(p) for p in ole.listdir(streams=True, storages=False)}
    assert found == set(expected)
    for path, blob in expected.items():
        assert ole.get_size(path) == len(blob)
        assert ole.openstream(path).read() == blob, path
    assert ole.get_type("VBA") == olefile.STGTY_STORAGE
    assert len(data) % 512 == 0


def test_small_streams_use_the_mini_stream_and_large_ones_do_not():
    data = cfb.write({"a": b"x" * 4095, "b": b"y" * 4096})
    ole = olefile.OleFileIO(io.BytesIO(data))
    sizes = {e.name: (e.size, e.isectStart) for e in ole.direntries if e is not None}
    assert ole.minisectorcutoff == 4096
    assert ole.openstream("a").read() == b"x" * 4095
    assert ole.openstream("b").read() == b"y" * 4096
    root = ole.direntries[0]
    assert root.size == 4096  # 64 mini sectors for "a"
    assert sizes["a"][0] == 4095 and sizes["b"][0] == 4096


def test_output_is_deterministic_and_independent_of_insertion_order():
    tree = _tree(7)
    shuffled = dict(reversed(list(tree.items())))
    assert cfb.write(tree) == cfb.write(tree) == cfb.write(shuffled)


def test_directory_is_a_valid_red_black_tree():
    tree = {f"S{i:02d}": bytes([i]) * (i + 1) for i in range(37)}
    ole = olefile.OleFileIO(io.BytesIO(cfb.write(tree)))
    entries = ole.direntries
    root = entries[entries[0].sid_child]
    assert root.color == 1  # black

    def key(e):
        return (len(e.name), e.name.upper())

    def check(sid, low, high):
        if sid == olefile.NOSTREAM:
            return 1
        e = entries[sid]
        assert (low is None or key(e) > low) and (high is None or key(e) < high)
        for kid in (e.sid_left, e.sid_right):
            if e.color == 0 and kid != olefile.NOSTREAM:
                assert entries[kid].color == 1, "red node with a red child"
        left = check(e.sid_left, low, key(e))
        right = check(e.sid_right, key(e), high)
        assert left == right, "unequal black heights"
        return left + (e.color == 1)

    check(entries[0].sid_child, None, None)
    assert sorted(ole.listdir(), key=lambda p: p[0]) == [[n] for n in sorted(tree)]


def test_bad_names_are_refused():
    with pytest.raises(cfb.CfbError):
        cfb.write({"a/b": b""})
    with pytest.raises(cfb.CfbError):
        cfb.write({"x" * 32: b""})
    with pytest.raises(cfb.CfbError):
        cfb.write({"Dir": b"", "DIR": b""})
