Attribute VB_Name = "Xhht"
' Helpers of the xhht_xl add-in (see macros/README.md): the Vietnamese texts, a Unicode message
' box, the checks made before a button calls Python, and what the worksheet functions (module
' xlwings_udfs, generated when the add-in is built) need: Excel error values, a readable failure
' text, and the function wizard's category and descriptions.
' The texts are in the add-in's own sheets xhht_xl.texts and xhht_xl.functions, written from
' xhht_xl/messages/excel.toml when the add-in is built: VBA source is stored in code page 1252,
' so this file stays ASCII-only (CRLF line endings).
Option Explicit

#If VBA7 Then
    Private Declare PtrSafe Function MessageBoxW Lib "user32" (ByVal hWnd As LongPtr, ByVal lpText As LongPtr, ByVal lpCaption As LongPtr, ByVal uType As Long) As Long
#Else
    Private Declare Function MessageBoxW Lib "user32" (ByVal hWnd As Long, ByVal lpText As Long, ByVal lpCaption As Long, ByVal uType As Long) As Long
#End If

Private Const MB_ICONERROR As Long = &H10
Private Const MB_SETFOREGROUND As Long = &H10000

' The text under key in the add-in's sheet xhht_xl.texts (column A key, column B text);
' the key itself when the sheet or the key is missing.
Public Function XhhtText(ByVal key As String) As String
    Dim sht As Worksheet, r As Long
    XhhtText = key
    On Error GoTo done
    Set sht = ThisWorkbook.Worksheets(PROJECT_NAME & ".texts")
    r = 1
    Do While Len(CStr(sht.Cells(r, 1).Value)) > 0
        If CStr(sht.Cells(r, 1).Value) = key Then
            XhhtText = CStr(sht.Cells(r, 2).Value)
            Exit Function
        End If
        r = r + 1
    Loop
done:
End Function

' One line in a message box. MessageBoxW, because VBA's MsgBox converts its text to the ANSI
' code page and cannot show Vietnamese.
Public Sub XhhtAlert(ByVal message As String)
    Dim caption As String
    caption = XhhtText("title")
    #If VBA7 Then
        MessageBoxW CLngPtr(Application.Hwnd), StrPtr(message), StrPtr(caption), MB_ICONERROR Or MB_SETFOREGROUND
    #Else
        MessageBoxW Application.Hwnd, StrPtr(message), StrPtr(caption), MB_ICONERROR Or MB_SETFOREGROUND
    #End If
End Sub

' Before a button calls Python: a workbook is active (a file in Protected View has none), it is
' saved in a folder when the button needs its file, and the configured Python can be started.
' Otherwise the clerk reads one line saying what to do, and False is returned.
Public Function XhhtReady(ByVal needsFile As Boolean) As Boolean
    Dim problem As String
    If ActiveWorkbook Is Nothing Then
        If XhhtInProtectedView() Then
            XhhtAlert XhhtText("protected-view")
        Else
            XhhtAlert XhhtText("no-workbook")
        End If
        Exit Function
    End If
    If needsFile And Len(ActiveWorkbook.Path) = 0 Then
        XhhtAlert XhhtText("save-first")
        Exit Function
    End If
    problem = XhhtPythonProblem()
    If Len(problem) > 0 Then
        XhhtAlert problem
        Exit Function
    End If
    XhhtReady = True
End Function

Private Function XhhtInProtectedView() As Boolean
    On Error Resume Next
    XhhtInProtectedView = Not (Application.ActiveProtectedViewWindow Is Nothing)
End Function

' Empty when xlwings can start the Python of the setting INTERPRETER_WIN (written into the
' add-in by "xhht addin install"); otherwise the line that tells the clerk what to do.
Public Function XhhtPythonProblem() As String
    Dim exe As String
    exe = CStr(GetConfig("INTERPRETER_WIN", ""))
    If Len(exe) = 0 Then
        XhhtPythonProblem = XhhtText("not-installed")
    ElseIf Not XhhtFileThere(exe) Then
        XhhtPythonProblem = Replace(XhhtText("no-interpreter"), "{path}", exe)
    ElseIf Not FileExists(exe) Then
        ' The file is there, but xlwings checks it with VBA's GetAttr, which goes through the
        ' ANSI code page and cannot take every character of a Unicode path.
        XhhtPythonProblem = Replace(XhhtText("path-not-ansi"), "{path}", exe)
    End If
End Function

Private Function XhhtFileThere(ByVal filePath As String) As Boolean
    ' FileSystemObject takes Unicode paths; without it, fall back to xlwings' own check.
    On Error GoTo noFso
    XhhtFileThere = CreateObject("Scripting.FileSystemObject").FileExists(filePath)
    Exit Function
noFso:
    XhhtFileThere = FileExists(filePath)
End Function

' A worksheet function's result for its cell: the error texts of xhht_xl.excel.udfs (#N/A,
' #VALUE!, #DIV/0!, #NUM!) become Excel's error values, so ISERROR and IFERROR see them.
Public Function XhhtCellValue(ByVal result As Variant) As Variant
    XhhtCellValue = result
    If VarType(result) <> vbString Then Exit Function
    Select Case result
        Case "#N/A": XhhtCellValue = CVErr(2042)
        Case "#VALUE!": XhhtCellValue = CVErr(2015)
        Case "#DIV/0!": XhhtCellValue = CVErr(2007)
        Case "#NUM!": XhhtCellValue = CVErr(2036)
    End Select
End Function

' What a worksheet function shows when Python could not be reached: the readiness problem when
' there is one, else the general line with xlwings' own description appended.
Public Function XhhtUdfFailed(ByVal description As String) As String
    Dim problem As String
    On Error Resume Next
    problem = XhhtPythonProblem()
    On Error GoTo 0
    If Len(problem) > 0 Then
        XhhtUdfFailed = problem
    Else
        XhhtUdfFailed = Replace(XhhtText("udf-failed"), "{detail}", description)
    End If
End Function

' Excel's function wizard texts for the XHHT_ functions, from the add-in's sheet
' xhht_xl.functions: column A name, B category, C description, D onwards one argument each.
' Run when the add-in opens; a failure only leaves the wizard without texts. Nothing is saved:
' the add-in is marked unchanged afterwards, so Excel never asks to save it.
Public Sub XhhtRegisterFunctions()
    Dim sht As Worksheet, r As Long, c As Long, n As Long
    Dim args() As String
    On Error GoTo done
    Set sht = ThisWorkbook.Worksheets(PROJECT_NAME & ".functions")
    r = 1
    Do While Len(CStr(sht.Cells(r, 1).Value)) > 0
        n = 0
        Do While Len(CStr(sht.Cells(r, 4 + n).Value)) > 0
            n = n + 1
        Loop
        If n > 0 Then
            ReDim args(1 To n)
            For c = 1 To n
                args(c) = CStr(sht.Cells(r, 3 + c).Value)
            Next c
        End If
        XhhtDescribe CStr(sht.Cells(r, 1).Value), CStr(sht.Cells(r, 2).Value), CStr(sht.Cells(r, 3).Value), n, args
        r = r + 1
    Loop
done:
    ThisWorkbook.Saved = True
End Sub

Private Sub XhhtDescribe(ByVal fname As String, ByVal category As String, ByVal description As String, ByVal n As Long, args() As String)
    On Error Resume Next
    If n > 0 Then
        Application.MacroOptions Macro:="'" & ThisWorkbook.Name & "'!" & fname, Description:=description, _
            Category:=category, ArgumentDescriptions:=args
    Else
        Application.MacroOptions Macro:="'" & ThisWorkbook.Name & "'!" & fname, Description:=description, _
            Category:=category
    End If
End Sub
