"""The karyostudio desktop application (PySide6).

Only karyostudio.cli.gui imports this package. The Document (karyostudio.core) is the model:
widgets show it, follow its change events and change it only through commands on its History.
"""
