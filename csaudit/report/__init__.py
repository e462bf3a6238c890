"""Reports: papermill runs notebooks per agent -> HTML; index page; Excel workbook."""
