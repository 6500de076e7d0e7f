Attribute VB_Name = "Ribbon"
' Ribbon callbacks of the xhht_xl add-in (see macros/README.md). Every button in customUI14.xml
' has a tag and one of these two callbacks; Python does the work in
' xhht_xl.excel.ribbon.dispatch(tag). XhhtRibbon serves the buttons that need the open workbook
' saved in a folder (they read it from disk and write next to it), XhhtRibbonAnyBook the others.
' Both check first that Python can be called (Xhht.XhhtReady) and say what to do otherwise.
' Keep this file ASCII-only with CRLF line endings.
Option Explicit

Public Sub XhhtRibbon(control As Object)
    XhhtRun control.Tag, True
End Sub

Public Sub XhhtRibbonAnyBook(control As Object)
    XhhtRun control.Tag, False
End Sub

Private Sub XhhtRun(ByVal buttonTag As String, ByVal needsFile As Boolean)
    If Not XhhtReady(needsFile) Then Exit Sub
    RunPython "import xhht_xl.excel.ribbon as r; r.dispatch('" & buttonTag & "')"
End Sub
