"""MS-OVBA pieces: compression, CMG/DPB/GC encoding, the dir stream, source checks."""

from __future__ import annotations

import os
import random
from pathlib import Path

import olefile
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from oletools.olevba import decompress_stream

from xhht_xl.excel import ovba

EXCEL_MADE = Path(__file__).resolve().parents[2] / "shared" / "excel-made"
if not EXCEL_MADE.is_dir():
    EXCEL_MADE = Path("/work/shared/excel-made")


def _oletools(data: bytes) -> bytes:
    return bytes(decompress_stream(bytearray(data)))


def _roundtrip_ok(data: bytes, packed: bytes) -> None:
    mine, theirs = ovba.decompress(packed), _oletools(packed)
    assert mine == theirs
    # Only a raw (incompressible) final chunk may add zero padding, up to 4,096 bytes.
    assert mine[: len(data)] == data
    assert set(mine[len(data) :]) <= {0} and len(mine) % 4096 in (0, len(data) % 4096)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=12_000))
def test_random_bytes_round_trip_and_oletools_agrees(data):
    _roundtrip_ok(data, ovba.compress(data))


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.sampled_from([b"Dim ", b"As String", b"\r\n", b"    ", b"x", b"End Sub", b"'"]), max_size=3000
    )
)
def test_repetitive_text_round_trips_exactly(pieces):
    data = b"".join(pieces)
    packed = ovba.compress(data)
    assert ovba.decompress(packed) == _oletools(packed) == data


def test_incompressible_chunks_are_stored_raw():
    data = os.urandom(4096 + 3900)  # full chunk + final chunk too big to store compressed
    packed = ovba.compress(data)
    assert packed[0] == 1
    assert packed[1:3] == b"\xff\x3f"  # raw chunk header: size 4098, signature 3, flag 0
    assert len(packed) == 1 + 2 * (2 + 4096)
    out = ovba.decompress(packed)
    assert out == _oletools(packed)
    assert out[: len(data)] == data and out[len(data) :] == bytes(8192 - len(data))


def test_short_incompressible_final_chunk_stays_exact():
    data = os.urandom(3000)  # 3000 + 375 flag bytes still fit a compressed chunk
    packed = ovba.compress(data)
    assert packed[2] & 0x80  # compressed flag
    assert ovba.decompress(packed) == _oletools(packed) == data


def test_empty_and_corrupt_containers():
    assert ovba.compress(b"") == b"\x01"
    assert ovba.decompress(b"\x01") == b""
    with pytest.raises(ovba.OvbaError):
        ovba.decompress(b"\x02\x00\x00")
    with pytest.raises(ovba.OvbaError):
        ovba.decompress(b"\x01\x00\x00")  # bad chunk signature


def test_excel_made_streams_decompress_like_oletools():
    ole = olefile.OleFileIO(str(EXCEL_MADE / "vbaProject01.bin"))
    for path in ("VBA/dir",):
        raw = ole.openstream(path).read()
        assert ovba.decompress(raw) == _oletools(raw)
    raw = ole.openstream("VBA/Module1").read()[0x434:]
    assert ovba.decompress(raw) == _oletools(raw)


def test_encryption_decodes_excel_values_and_round_trips():
    ole = olefile.OleFileIO(str(EXCEL_MADE / "vbaProject01.bin"))
    text = ole.openstream("PROJECT").read().decode("cp1252")
    pid = text.split('"')[1]
    values = {k: text.split(f'{k}="')[1].split('"')[0] for k in ("CMG", "DPB", "GC")}
    expected = {"CMG": bytes(4), "DPB": b"\x00", "GC": b"\xff"}
    for key, value in values.items():
        version, proj_key, data = ovba.decrypt(value)
        assert (version, proj_key, data) == (2, sum(pid.encode()) & 0xFF, expected[key])
        # same seed => same length and same first three bytes as Excel's
        mine = ovba.encrypt(data, pid, int(value[:2], 16))
        assert len(mine) == len(value) and mine[:6] == value[:6]
    for seed in range(256):
        assert ovba.decrypt(ovba.encrypt(b"\x01\x02xyz", pid, seed)) == (
            2,
            sum(pid.encode()) & 0xFF,
            b"\x01\x02xyz",
        )


def test_non_ascii_or_lf_source_is_refused_with_its_line():
    with pytest.raises(ovba.OvbaError, match=r"line 2: character 'ế'"):
        ovba.module_from_bas('Attribute VB_Name = "M"\r\nMsgBox "Tiếng Việt"\r\n')
    with pytest.raises(ovba.OvbaError, match="CRLF"):
        ovba.module_from_bas('Attribute VB_Name = "M"\nSub A()\r\n')
    with pytest.raises(ovba.OvbaError, match="VB_Name"):
        ovba.module_from_bas("Sub A()\r\nEnd Sub\r\n")


def test_project_names_are_checked():
    mod = ovba.module_from_bas('Attribute VB_Name = "M"\r\n')
    with pytest.raises(ovba.OvbaError):
        ovba.project_tree("bad name", [mod])
    with pytest.raises(ovba.OvbaError):
        ovba.project_tree("P", [mod, mod])


def test_project_stream_is_deterministic_and_decodable():
    mods = [
        ovba.document_module("ThisWorkbook", ovba.WORKBOOK_BASE),
        ovba.module_from_bas('Attribute VB_Name = "M"\r\n'),
    ]
    a, b = ovba.project_stream("Proj", mods), ovba.project_stream("Proj", mods)
    assert a == b
    lines = a.decode("cp1252").split("\r\n")
    assert lines[0] == f'ID="{ovba.project_id("Proj")}"'
    assert lines[1:3] == ["Document=ThisWorkbook/&H00000000", "Module=M"]
    assert 'Name="Proj"' in lines and "[Host Extender Info]" in lines and "[Workspace]" in lines
    props = dict(line.split("=", 1) for line in lines if line[:3] in ("CMG", "DPB", "GC="))
    assert ovba.decrypt(props["CMG"].strip('"'))[2] == bytes(4)
    assert ovba.decrypt(props["DPB"].strip('"'))[2] == b"\x00"
    assert ovba.decrypt(props["GC"].strip('"'))[2] == b"\xff"


@pytest.mark.parametrize("size", [1, 2, 3, 15, 16, 17, 4095, 4096, 4097, 8192, 8193, 3 * 4096 + 5])
def test_chunk_boundaries_mixed_content(size):
    rnd = random.Random(size)
    data = bytes(rnd.choice(b"ab\r\n ") if i % 97 < 60 else rnd.getrandbits(8) for i in range(size))
    packed = ovba.compress(data)
    assert ovba.decompress(packed) == _oletools(packed) == data
