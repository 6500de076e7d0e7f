"""The buttons of the XHHT ribbon tab, as data (no xlwings import here).

The ribbon XML (``customUI/customUI14.xml`` in the add-in, a copy in ``macros/``) is generated
from this table. Every button calls one of two VBA callbacks, which check that Python can be
called and hand the button's ``tag`` to Python (``xhht_xl.excel.ribbon.dispatch``):
``XhhtRibbon`` when the handler needs the open workbook saved in a folder (it reads the file or
writes next to it), ``XhhtRibbonAnyBook`` otherwise. Adding a button means adding a row here and
its texts in ``messages/ribbon.toml``, then rebuilding the add-in: no VBA changes.
"""

from __future__ import annotations

from dataclasses import dataclass

TAB_ID = "xhhtTab"
TAB_LABEL_KEY = "ribbon.tab"
CALLBACK = "XhhtRibbon"  # the workbook must be saved in a folder (macros/Ribbon.bas)
CALLBACK_ANY_BOOK = "XhhtRibbonAnyBook"  # any open workbook, saved or not


@dataclass(frozen=True)
class Group:
    """A group of buttons on the tab."""

    id: str
    label_key: str


@dataclass(frozen=True)
class Button:
    """One ribbon button: ``tag`` is what Python receives; texts are message keys;
    ``needs_file``: the handler works on the saved workbook file (``ribbon._require_file``)."""

    tag: str
    label_key: str
    screentip_key: str
    image_mso: str
    group: str
    needs_file: bool = True

    @property
    def callback(self) -> str:
        """The VBA Sub the button's ``onAction`` names."""
        return CALLBACK if self.needs_file else CALLBACK_ANY_BOOK


GROUPS: tuple[Group, ...] = (
    Group("du_lieu", "ribbon.group_du_lieu"),
    Group("van_ban", "ribbon.group_van_ban"),
    Group("tro_giup", "ribbon.group_tro_giup"),
)


def _button(tag: str, image_mso: str, group: str, needs_file: bool = True) -> Button:
    return Button(tag, f"ribbon.{tag}", f"ribbon.{tag}_tip", image_mso, group, needs_file)


BUTTONS: tuple[Button, ...] = (
    _button("kiem_tra", "DataValidation", "du_lieu"),
    _button("lay_bao_cao", "FileOpen", "du_lieu"),
    _button("tong_hop", "AutoSum", "du_lieu"),
    _button("khen_thuong", "HappyFace", "du_lieu"),
    _button("tao_mau", "FileNew", "van_ban", needs_file=False),
    _button("tra_lai", "FileSendAsAttachment", "van_ban"),
    _button("bao_cao", "CreateReport", "van_ban"),
    _button("huong_dan", "Help", "tro_giup", needs_file=False),
)

TAGS: tuple[str, ...] = tuple(b.tag for b in BUTTONS)


def button(tag: str) -> Button:
    """The button with ``tag``; ``KeyError`` if there is none."""
    for b in BUTTONS:
        if b.tag == tag:
            return b
    raise KeyError(tag)
