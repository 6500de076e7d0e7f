Attribute VB_Name = "Ribbon"
' Ribbon callback of the xhht_xl add-in (see macros/README.md).
' Every button in customUI14.xml has onAction="XhhtRibbon" and a tag; Python does the work
' in xhht_xl.excel.ribbon.dispatch(tag). Keep this file ASCII-only with CRLF line endings.
Option Explicit

Public Sub XhhtRibbon(control As Object)
    ' RunPython needs an active workbook; with none open, give it a blank one.
    If ActiveWorkbook Is Nothing Then Workbooks.Add
    ' The worksheet functions are imported by xlwings' VBA into this add-in (UDF MODULES setting).
    If control.Tag = "nhap_ham" Then
        ImportPythonUDFsToAddin
        Exit Sub
    End If
    RunPython "import xhht_xl.excel.ribbon as r; r.dispatch('" & control.Tag & "')"
End Sub
