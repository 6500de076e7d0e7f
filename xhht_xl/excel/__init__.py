"""Excel glue: the only code that imports xlwings (ribbon handlers, worksheet functions, the add-in build)."""
