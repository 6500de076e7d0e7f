"""One small interface to "the workbook the clerk has open", implemented twice.

- :class:`XlwingsBook`: live Excel through the BSD part of xlwings (``xlwings.main`` objects and
  their ``.api`` COM handles). xlwings is imported lazily: nothing here needs Excel until a
  ``XlwingsBook`` is built, so the module imports on Linux.
- :class:`OpenpyxlBook`: a workbook file on disk, loaded with openpyxl and saved atomically
  (``fileio.save_workbook``) when the handler finishes. Message boxes and status texts are
  recorded in lists, the folder dialog returns folders given at construction: this is what the
  tests (and headless scripts) drive the ribbon handlers with.

Cells are addressed as ``(sheet name, "B7")``. Text is always stored as text, never as a
formula or a parsed number: openpyxl gets ``data_type = "s"``, Excel gets the text behind an
apostrophe prefix (Excel parses any string assigned to ``Range.Value`` as if typed).
"""

from __future__ import annotations

import datetime as dt
import math
import re
import shutil
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path

from .. import messages
from ..fileio import save_workbook

T = messages.text
AUTHOR = "XHHT"


class BookError(Exception):
    """The open workbook cannot be used as asked; ``str()`` is the one line the clerk reads."""


_REF = re.compile(r"^\$?([A-Za-z]{1,3})\$?(\d+)(?::\$?([A-Za-z]{1,3})\$?(\d+))?$")
Rows = Sequence[Sequence[object]]


def _clean(value: object) -> object:
    """NaN/NaT -> None, pandas/numpy scalars -> Python values."""
    if value is None:
        return None
    if hasattr(value, "to_pydatetime"):  # pandas Timestamp (NaT has it too)
        try:
            return None if value != value else value.to_pydatetime()
        except (TypeError, ValueError):
            return None
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def as_rows(data: object, header: bool = True) -> list[list[object]]:
    """A DataFrame (with its column names as the first row when ``header``) or rows, cleaned."""
    if hasattr(data, "itertuples") and hasattr(data, "columns"):
        rows = [list(data.columns)] if header else []
        rows += [list(r) for r in data.itertuples(index=False, name=None)]
    else:
        rows = [list(r) for r in data]  # type: ignore[union-attr]
    return [[_clean(v) for v in r] for r in rows]


def split_ref(ref: str) -> tuple[str | None, str]:
    """``"'Kết quả'!B7"`` -> ``("Kết quả", "B7")``; ``"B7"`` -> ``(None, "B7")``."""
    if "!" not in ref:
        return None, ref
    sheet, addr = ref.rsplit("!", 1)
    if sheet.startswith("'") and sheet.endswith("'"):
        sheet = sheet[1:-1].replace("''", "'")
    return sheet, addr.replace("$", "")


def location(sheet: str, cell: str) -> str:
    """An internal hyperlink target: ``'Sheet name'!B7``."""
    return "'" + sheet.replace("'", "''") + "'!" + cell


class Book(ABC):
    """What a ribbon handler may do with the open workbook."""

    @property
    @abstractmethod
    def path(self) -> Path:
        """Full path of the workbook file (a new, never saved workbook has no folder)."""

    @property
    def name(self) -> str:
        return self.path.name

    @abstractmethod
    def sheet_names(self) -> list[str]: ...

    @abstractmethod
    def read(self, ref: str) -> list[list[object]]:
        """Rows of a range (``"Sheet!A1:C9"``), a defined name, or a whole sheet (its used range)."""

    @abstractmethod
    def write(self, sheet: str, data: object, *, at: str = "A1", clear: bool = True,
              header: bool = True, widths: Sequence[float] = ()) -> None:  # fmt: skip
        """Write rows or a DataFrame at ``at``, creating the sheet (before the hidden ones) or
        clearing it first; the first row is bold when ``header``."""

    @abstractmethod
    def put(self, sheet: str, cells: Mapping[str, object]) -> None:
        """Set single cells of an existing sheet (``{"B7": 12}``); values, never formulas."""

    @abstractmethod
    def fill(self, sheet: str, cell: str, color: str | None) -> None:
        """Background colour ``"RRGGBB"``, or none."""

    @abstractmethod
    def fill_of(self, sheet: str, cell: str) -> str | None:
        """The solid background colour ``"RRGGBB"`` of a cell, or None."""

    @abstractmethod
    def comment(self, sheet: str, cell: str, text: str | None) -> None:
        """Put a note (classic comment) on a cell, replacing one; ``None`` removes it."""

    @abstractmethod
    def link(self, sheet: str, cell: str, *, to: str | None = None, address: str | None = None) -> None:
        """A hyperlink in a cell: ``to`` a place in this workbook (``"'Kết quả'!E7"``) or to a file."""

    @abstractmethod
    def activate(self, sheet: str) -> None: ...

    @abstractmethod
    def hide(self, sheet: str) -> None:
        """Make a sheet very hidden (not listed by Unhide): data the level above reads, not a clerk."""

    @abstractmethod
    def status(self, text: str | None) -> None:
        """Status bar text; ``None`` gives the status bar back to the application."""

    @abstractmethod
    def message(self, text: str, error: bool = False) -> None:
        """A message box with one Vietnamese line."""

    @abstractmethod
    def pick_folder(self, purpose: str, initial: Path | None = None) -> Path | None:
        """Ask for a folder (``purpose`` is a key of ``excel.pick-*``); None when cancelled."""

    @abstractmethod
    def cancelled(self) -> bool:
        """True once the clerk asked to stop (Esc), where the application lets us know."""

    @abstractmethod
    def save_copy(self, path: Path) -> Path:
        """Save the current state (with unsaved changes) as a copy at ``path``; the book is unchanged."""

    def begin(self) -> None:  # noqa: B027 - optional hook
        """Called by ``dispatch`` before a handler runs."""

    def setting(self, key: str) -> str | None:
        """A value of the add-in's settings (sheet ``xhht_xl.conf``: ``MAIL_SERVER``, ``MAIL_USER``…);
        None when it is not set."""
        return None

    def ask(self, text: str) -> bool | None:
        """A Yes / No / Cancel question: True, False, or None for Cancel."""
        return False

    @abstractmethod
    def finish(self, changed: bool) -> None:
        """Called by ``dispatch`` after a handler: release the status bar, save when it is ours to save."""


# -- a file on disk -------------------------------------------------------------------------------


class OpenpyxlBook(Book):
    """A workbook file; changes are saved atomically to the same path by :meth:`finish`."""

    def __init__(self, path: str | Path, *, folders: Path | str | Mapping[str, Path] | None = None,
                 cancel_after: int | None = None, settings: Mapping[str, str] | None = None,
                 answers: Sequence[bool | None] = ()):  # fmt: skip
        self._path = Path(path)
        self._folders = folders
        self._settings = dict(settings or {})
        self._answers = list(answers)
        self.questions: list[str] = []
        self._cancel_after = cancel_after
        self._checks = 0
        self._wb = None
        self.messages: list[str] = []
        self.errors: list[str] = []
        self.statuses: list[str | None] = []
        self.saved = False

    @property
    def path(self) -> Path:
        return self._path

    @property
    def wb(self):
        if self._wb is None:
            from openpyxl import load_workbook

            self._wb = load_workbook(self._path, keep_vba=self._path.suffix.lower() in (".xlsm", ".xlam"))
        return self._wb

    def reload(self) -> None:
        """Forget the loaded workbook (after the file was replaced on disk)."""
        self._wb = None

    def sheet_names(self) -> list[str]:
        return list(self.wb.sheetnames)

    def _range(self, ref: str):
        sheet, addr = split_ref(ref)
        if sheet is None:
            if ref in self.wb.defined_names:
                sheet, addr = next(iter(self.wb.defined_names[ref].destinations))
                addr = addr.replace("$", "")
            elif ref in self.wb.sheetnames:
                ws = self.wb[ref]
                return ws, ws.iter_rows(min_row=1, max_row=ws.max_row, max_col=ws.max_column)
            else:
                raise KeyError(ref)
        ws = self.wb[sheet]
        cells = ws[addr]
        if not isinstance(cells, tuple):
            cells = ((cells,),)
        elif cells and not isinstance(cells[0], tuple):
            cells = (cells,)
        return ws, cells

    def read(self, ref: str) -> list[list[object]]:
        _, cells = self._range(ref)
        return [[c.value for c in row] for row in cells]

    def _sheet(self, name: str, clear: bool):
        wb = self.wb
        if name in wb.sheetnames:
            if not clear:
                return wb[name]
            index = wb.sheetnames.index(name)
            wb.remove(wb[name])
        else:
            hidden = [i for i, ws in enumerate(wb.worksheets) if ws.sheet_state != "visible"]
            index = hidden[0] if hidden else len(wb.sheetnames)
        return wb.create_sheet(name, index)

    @staticmethod
    def _set(cell, value) -> None:
        from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

        value = _clean(value)
        if isinstance(value, str):
            cell.value = ILLEGAL_CHARACTERS_RE.sub("", value)
            cell.data_type = "s"  # a text starting with "=" stays text
        else:
            cell.value = value
            if isinstance(value, (dt.date, dt.datetime)):
                cell.number_format = "dd/mm/yyyy" if type(value) is dt.date else "dd/mm/yyyy hh:mm"

    def write(self, sheet, data, *, at="A1", clear=True, header=True, widths=()):
        from openpyxl.styles import Font
        from openpyxl.utils import get_column_letter

        ws = self._sheet(sheet, clear)
        first = ws[at]
        rows = as_rows(data, header)
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                cell = ws.cell(first.row + r, first.column + c)
                self._set(cell, value)
                if header and r == 0:
                    cell.font = Font(bold=True)
        for i, w in enumerate(widths):
            ws.column_dimensions[get_column_letter(first.column + i)].width = w

    def put(self, sheet, cells):
        ws = self.wb[sheet]
        for ref, value in cells.items():
            self._set(ws[ref], value)

    def fill(self, sheet, cell, color):
        from openpyxl.styles import PatternFill

        self.wb[sheet][cell].fill = PatternFill("solid", fgColor=color) if color else PatternFill(None)

    def fill_of(self, sheet, cell):
        f = self.wb[sheet][cell].fill
        if f is None or f.fill_type != "solid" or f.fgColor is None or f.fgColor.type != "rgb":
            return None
        return str(f.fgColor.rgb)[-6:].upper()

    def comment(self, sheet, cell, text):
        from openpyxl.comments import Comment

        c = self.wb[sheet][cell]
        if text is None:
            c.comment = None
            return
        note = Comment(text, AUTHOR)
        note.width, note.height = 320, min(600, 40 + 16 * (1 + len(text) // 45 + text.count("\n")))
        c.comment = note

    def link(self, sheet, cell, *, to=None, address=None):
        from openpyxl.styles import Font
        from openpyxl.worksheet.hyperlink import Hyperlink

        c = self.wb[sheet][cell]
        if address:
            c.hyperlink = address
            if to:
                c.hyperlink.location = to
        else:
            c.hyperlink = Hyperlink(ref=c.coordinate, location=to)
        c.font = Font(color="0563C1", underline="single")

    def hide(self, sheet):
        self.wb[sheet].sheet_state = "veryHidden"

    def activate(self, sheet):
        wb = self.wb
        for ws in wb.worksheets:
            ws.sheet_view.tabSelected = False
        wb.active = wb.sheetnames.index(sheet)
        wb[sheet].sheet_view.tabSelected = True

    def status(self, text):
        self.statuses.append(text)

    def message(self, text, error=False):
        (self.errors if error else self.messages).append(text)

    def pick_folder(self, purpose, initial=None):
        if isinstance(self._folders, Mapping):
            folder = self._folders.get(purpose)
        else:
            folder = self._folders
        return Path(folder) if folder is not None else None

    def setting(self, key):
        return self._settings.get(key)

    def ask(self, text):
        self.questions.append(text)
        return self._answers.pop(0) if self._answers else False

    def cancelled(self):
        self._checks += 1
        return self._cancel_after is not None and self._checks > self._cancel_after

    def save_copy(self, path):
        path = Path(path)
        if self._wb is None:
            shutil.copyfile(self._path, path)
            return path
        return save_workbook(self._wb, path)

    def finish(self, changed):
        if changed and self._wb is not None:
            save_workbook(self._wb, self._path)
            self.saved = True


# -- live Excel -----------------------------------------------------------------------------------

_VK_ESCAPE = 0x1B
_FOLDER_PICKER = 4  # msoFileDialogFolderPicker


class XlwingsBook(Book):
    """The workbook open in Excel, through xlwings' core (BSD) API and its COM ``.api`` handles."""

    def __init__(self, book):
        self.book = book
        self._screen = None

    @classmethod
    def caller(cls) -> XlwingsBook:
        """The workbook that ran the ribbon callback (``RunPython``); fails outside Excel."""
        import xlwings as xw

        return cls(xw.Book.caller())

    @property
    def app(self):
        return self.book.app

    @property
    def path(self) -> Path:
        """The workbook's file. A workbook opened from OneDrive/SharePoint with AutoSave has a
        web address for a name; xlwings finds the synced local copy or raises (in English):
        the clerk reads one Vietnamese line instead."""
        try:
            return Path(self.book.fullname)
        except Exception:
            raise BookError(T("excel.cloud-path", file=self.book.name)) from None

    @property
    def name(self) -> str:
        return self.book.name

    def sheet_names(self):
        return [s.name for s in self.book.sheets]

    def _range(self, ref: str):
        sheet, addr = split_ref(ref)
        if sheet is not None:
            return self.book.sheets[sheet].range(addr)
        if ref in [n.name for n in self.book.names]:
            return self.book.names[ref].refers_to_range
        return self.book.sheets[ref].used_range

    def read(self, ref):
        return self._range(ref).options(ndim=2).value

    @staticmethod
    def _value(value):
        value = _clean(value)
        if isinstance(value, str) and value:
            return "'" + value  # stored as text as typed; the apostrophe is not part of the value
        return value

    def _editable(self, sheet):
        """Unprotect a sheet protected without a password; return a function that protects it again."""
        ws = self.book.sheets[sheet].api
        if not ws.ProtectContents:
            return lambda: None
        p = ws.Protection
        allow = {
            "AllowFormattingCells": p.AllowFormattingCells,
            "AllowFormattingColumns": p.AllowFormattingColumns,
            "AllowFormattingRows": p.AllowFormattingRows,
        }
        ws.Unprotect()
        return lambda: ws.Protect(DrawingObjects=True, Contents=True, Scenarios=True, **allow)

    def _sheet(self, name, clear):
        sheets = self.book.sheets
        if name in [s.name for s in sheets]:
            sht = sheets[name]
            if clear:
                sht.clear()
                sht.api.Hyperlinks.Delete()
            return sht
        structure = bool(self.book.api.ProtectStructure)
        if structure:
            self.book.api.Unprotect()  # templates lock the structure without a password
        try:
            visible = [s for s in sheets if s.visible]
            return sheets.add(name, after=visible[-1] if visible else None)
        finally:
            if structure:
                self.book.api.Protect(Structure=True)

    def write(self, sheet, data, *, at="A1", clear=True, header=True, widths=()):
        sht = self._sheet(sheet, clear)
        rows = [[self._value(v) for v in r] for r in as_rows(data, header)]
        if not rows:
            return
        width = max(len(r) for r in rows)
        rows = [r + [None] * (width - len(r)) for r in rows]
        rng = sht.range(at)
        rng.resize(len(rows), width).value = rows
        if header:
            rng.resize(1, width).font.bold = True
        for i, w in enumerate(widths):
            rng.offset(0, i).column_width = w

    def put(self, sheet, cells):
        sht = self.book.sheets[sheet]
        restore = self._editable(sheet)
        try:
            for ref, value in cells.items():
                sht.range(ref).value = self._value(value)
        finally:
            restore()

    def fill(self, sheet, cell, color):
        restore = self._editable(sheet)
        try:
            self.book.sheets[sheet].range(cell).color = ("#" + color) if color else None
        finally:
            restore()

    def fill_of(self, sheet, cell):
        rgb = self.book.sheets[sheet].range(cell).color
        return None if rgb is None else "{:02X}{:02X}{:02X}".format(*rgb)

    def comment(self, sheet, cell, text):
        restore = self._editable(sheet)
        try:
            rng = self.book.sheets[sheet].range(cell)
            rng.api.ClearComments()
            if text is not None:
                rng.add_note(text)
        finally:
            restore()

    def link(self, sheet, cell, *, to=None, address=None):
        restore = self._editable(sheet)
        try:
            rng = self.book.sheets[sheet].range(cell)
            shown = rng.value
            rng.api.Hyperlinks.Add(Anchor=rng.api, Address=address or "", SubAddress=to or "",
                                   TextToDisplay="" if shown is None else str(shown))  # fmt: skip
        finally:
            restore()

    def hide(self, sheet):
        self.book.sheets[sheet].api.Visible = 2  # xlSheetVeryHidden

    def activate(self, sheet):
        self.book.sheets[sheet].activate()

    def status(self, text):
        self.app.status_bar = text if text else False

    def message(self, text, error=False):
        self.app.alert(text, title=T("excel.title"), mode="critical" if error else "info")

    def pick_folder(self, purpose, initial=None):
        dialog = self.app.api.FileDialog(_FOLDER_PICKER)
        dialog.Title = T(f"excel.pick-{purpose}")
        if initial is not None:
            dialog.InitialFileName = str(initial).rstrip("\\/") + "\\"
        if dialog.Show() != -1:
            return None
        return Path(dialog.SelectedItems(1))

    def cancelled(self):
        # Excel does not pass Esc to Python: poll the key, only while Excel is the active window.
        try:
            import ctypes

            user32 = ctypes.windll.user32  # type: ignore[attr-defined]
            if user32.GetForegroundWindow() != self.app.hwnd:
                return False
            return bool(user32.GetAsyncKeyState(_VK_ESCAPE) & 0x8001)
        except (AttributeError, OSError):
            return False

    def save_copy(self, path):
        self.book.api.SaveCopyAs(str(path))
        return Path(path)

    def setting(self, key):
        # the add-in's own settings sheet, the one RunPython reads (an add-in is reachable by name)
        from .addin import ADDIN_NAME, CONF_SHEET

        try:
            rows = self.app.api.Workbooks(ADDIN_NAME).Worksheets(CONF_SHEET).UsedRange.Value
        except Exception:
            return None
        for row in rows if isinstance(rows, tuple) else ():
            if isinstance(row, tuple) and len(row) >= 2 and str(row[0] or "").strip().upper() == key.upper():
                value = str(row[1] or "").strip()
                return value or None
        return None

    def ask(self, text):
        answer = self.app.alert(text, title=T("excel.title"), buttons="yes_no_cancel", mode="info")
        return {"yes": True, "no": False}.get(answer)

    def begin(self):
        self._screen = self.app.screen_updating
        self.app.screen_updating = False
        self.cancelled()  # forget an Esc pressed before the button

    def finish(self, changed):
        # The clerk saves in Excel (a backup copy was written first by the handlers that change cells).
        if self._screen is not None:
            self.app.screen_updating = self._screen
        self.status(None)
