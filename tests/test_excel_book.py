"""The book adapter, ``dispatch`` error handling and the button/handler registry (no Excel)."""

from __future__ import annotations

import inspect
import io
import subprocess
import sys
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from xhht_xl import messages, templates
from xhht_xl.excel import book as book_mod
from xhht_xl.excel import registry, ribbon
from xhht_xl.excel.book import Book, OpenpyxlBook, XlwingsBook

T = messages.text


@pytest.fixture(scope="module")
def template_bytes(plan) -> bytes:
    """The district template as openpyxl saves it, built once for the module's tests."""
    buf = io.BytesIO()
    templates.build_workbook(plan, "huyen").save(buf)
    return buf.getvalue()


@pytest.fixture
def template(tmp_path, template_bytes) -> Path:
    path = tmp_path / "mau_huyen.xlsx"
    path.write_bytes(template_bytes)
    return path


def test_every_button_has_a_handler_and_every_handler_a_button():
    assert set(ribbon.HANDLERS) == set(registry.TAGS)
    for tag, fn in ribbon.HANDLERS.items():
        assert list(inspect.signature(fn).parameters) == ["book"], tag
        assert fn.__doc__, tag
        assert T(f"excel.help-{tag}")


def test_handler_decorator_refuses_a_second_handler_for_a_tag():
    with pytest.raises(ValueError, match="two handlers"):
        ribbon.handler("kiem_tra")(lambda book: False)


def test_modules_import_without_excel_and_without_xlwings():
    code = (
        "import sys; import xhht_xl.excel.book, xhht_xl.excel.ribbon; "
        "assert 'xlwings' not in sys.modules, 'xlwings imported'; "
        "from xhht_xl.excel.book import XlwingsBook; XlwingsBook(object()); print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "ok", out.stderr


def test_xlwings_book_implements_the_whole_interface_and_keeps_text_as_text():
    abstract = {n for n, v in vars(Book).items() if getattr(v, "__isabstractmethod__", False)}
    assert abstract <= set(vars(XlwingsBook)) and abstract <= set(vars(OpenpyxlBook))
    assert XlwingsBook._value("=SUM(A1:A9)") == "'=SUM(A1:A9)"
    assert XlwingsBook._value("1.234") == "'1.234"  # Excel would parse it as a number
    assert XlwingsBook._value(12) == 12 and XlwingsBook._value(float("nan")) is None


def test_caller_fails_cleanly_outside_excel():
    with pytest.raises(Exception):  # noqa: B017 - whatever xlwings raises without Excel
        XlwingsBook.caller()


def test_openpyxl_book_round_trip(template, tmp_path, plan):
    b = OpenpyxlBook(template, folders={"received": tmp_path})
    assert b.read("DV_UNIT") == [[None]]
    b.write("Ghi", pd.DataFrame({"a": [1, None], "b": ["=2+2", pd.Timestamp("2020-08-31")]}), widths=[12, 20])
    b.write("Ghi", [["nối thêm"]], at="D5", clear=False)
    b.put("Đơn vị", {"C4": '=HYPERLINK("http://x")'})
    b.fill("Ghi", "A2", "FF6B6B")
    b.comment("Ghi", "A2", "Lỗi: tử số lớn hơn mẫu số")
    b.link("Ghi", "B2", to=book_mod.location("Kết quả", "E7"))
    b.link("Ghi", "B3", address="../nhan/a.xlsx")
    b.activate("Ghi")
    assert b.fill_of("Ghi", "A2") == "FF6B6B" and b.fill_of("Ghi", "C9") is None
    assert b.pick_folder("received") == tmp_path and b.pick_folder("templates") is None
    assert b.read("'Ghi'!A1:B3")[0] == ["a", "b"]
    b.finish(changed=True)
    assert b.saved
    wb = openpyxl.load_workbook(template)
    ws = wb["Ghi"]
    assert wb.sheetnames.index("Ghi") < wb.sheetnames.index("_ds")  # before the hidden sheets
    assert ws["B2"].value == "=2+2" and ws["B2"].data_type == "s"  # a sender's text stays text
    assert ws["A3"].value is None and ws["B3"].value.date().isoformat() == "2020-08-31"
    assert ws["A1"].font.b and ws["D5"].value == "nối thêm"
    assert wb["Đơn vị"]["C4"].data_type == "s"
    assert ws["A2"].comment.text.startswith("Lỗi") and ws["A2"].comment.author == book_mod.AUTHOR
    assert ws["B2"].hyperlink.location == "'Kết quả'!E7"
    assert ws["B3"].hyperlink.target == "../nhan/a.xlsx"
    assert wb.active.title == "Ghi"
    assert ws.column_dimensions["A"].width == 12


def test_openpyxl_book_is_not_saved_when_unchanged(template):
    before = template.read_bytes()
    b = OpenpyxlBook(template)
    b.read("DV_UNIT")
    b.finish(changed=False)
    assert template.read_bytes() == before and not b.saved


def test_dispatch_turns_an_unexpected_error_into_one_line_and_a_logged_trace(template, tmp_path, monkeypatch):
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "appdata"))

    def boom(book):
        book.write("Dở dang", [["x"]])
        raise RuntimeError("hỏng ở giữa\nchừng")

    monkeypatch.setitem(ribbon.HANDLERS, "kiem_tra", boom)
    before = template.read_bytes()
    b = OpenpyxlBook(template)
    assert ribbon.dispatch("kiem_tra", b) is False
    log = tmp_path / "appdata" / "xhht_xl" / "xhht_xl.log"
    assert b.errors == [T("excel.unexpected", text="hỏng ở giữa chừng", log=log)]
    assert "\n" not in b.errors[0] and not b.messages
    trace = log.read_text(encoding="utf-8")
    assert "Traceback" in trace and "RuntimeError" in trace and "kiem_tra" in trace and str(template) in trace
    assert template.read_bytes() == before  # a failed handler does not save half its work


def test_dispatch_shows_a_known_error_as_its_own_line(template, tmp_path, monkeypatch):
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path))
    b = OpenpyxlBook(template, folders=tmp_path / "khong_co")
    assert ribbon.dispatch("tao_mau", b) is False
    assert b.errors == [T("excel.folder-missing", folder=tmp_path / "khong_co")]
    b = OpenpyxlBook(template)  # no folder chosen: the dialog was cancelled
    assert ribbon.dispatch("tao_mau", b) is False
    assert b.errors == [T("excel.cancelled")]


def test_a_blank_template_cannot_consolidate_without_its_unit(template, tmp_path, monkeypatch):
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path))
    b = OpenpyxlBook(template, folders=tmp_path)
    assert ribbon.dispatch("tong_hop", b) is False
    assert b.errors == [T("excel.no-unit", file=template.name, level="Cấp huyện")]


def test_dispatch_without_excel_reports_on_stderr_and_logs(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path))
    assert ribbon.dispatch("huong_dan") is False
    err = capsys.readouterr().err.strip()
    assert err and "\n" not in err
    assert "Traceback" in (tmp_path / "xhht_xl" / "xhht_xl.log").read_text(encoding="utf-8")


def test_folders_are_remembered_per_purpose(template, tmp_path, monkeypatch):
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "appdata"))
    seen = []

    class Recording(OpenpyxlBook):
        def pick_folder(self, purpose, initial=None):
            seen.append((purpose, initial))
            return tmp_path if len(seen) == 1 else None  # the second time the clerk cancels

    ribbon.dispatch("tao_mau", Recording(template))
    ribbon.dispatch("tao_mau", Recording(template))  # the dialog opens at the folder chosen before
    assert seen == [("templates", None), ("templates", tmp_path)]


class _Unsaved(OpenpyxlBook):
    """A workbook Excel has never saved: its FullName is "Book1" (no folder)."""

    @property
    def path(self) -> Path:
        return Path("Book1")


def test_only_the_buttons_marked_needs_file_refuse_an_unsaved_workbook(template, tmp_path, monkeypatch):
    """The ribbon XML sends needs_file buttons through the VBA check for a saved workbook; the
    handlers agree: those refuse an unsaved book with the same line, the others work."""
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "appdata"))
    for b in registry.BUTTONS:
        book = _Unsaved(template, folders=tmp_path / b.tag)
        (tmp_path / b.tag).mkdir()
        done = ribbon.dispatch(b.tag, book)
        if b.needs_file:
            assert (done, book.errors) == (False, [T("excel.save-first")]), b.tag
        else:
            assert done and not book.errors, (b.tag, book.errors)


def test_a_cloud_workbook_without_a_local_copy_gets_one_vietnamese_line(tmp_path, monkeypatch):
    """OneDrive/SharePoint with AutoSave: xlwings cannot map the URL to a file and raises in English."""
    import xlwings

    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path))

    class CloudBook:  # the xlwings Book of such a workbook, as far as the adapter asks
        name = "báo cáo huyện.xlsx"

        @property
        def fullname(self):
            raise xlwings.XlwingsError("Couldn't find your local OneDrive file, see: xlwings.org/error")

    book = XlwingsBook(CloudBook())
    assert book.name == "báo cáo huyện.xlsx"
    with pytest.raises(book_mod.BookError) as err:
        _ = book.path
    line = T("excel.cloud-path", file="báo cáo huyện.xlsx")
    assert str(err.value) == line and "OneDrive" in line and "\n" not in line
    with pytest.raises(book_mod.BookError):
        ribbon._require_file(book)  # how the handlers reach the path
    assert book_mod.BookError in ribbon._known_errors()  # dispatch shows the line as it is
