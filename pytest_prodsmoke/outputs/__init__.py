"""Everything the gate's verdict is written to: the JSON gate report and terminal block
(``report``), JUnit XML, Allure results, GitHub Actions, the gate commands and what a pipeline
reads back from the report (``pipeline``). A new output gets its own module here."""
