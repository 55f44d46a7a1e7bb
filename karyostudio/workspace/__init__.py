"""Qt-free work on documents and case folders: sessions, recovery files, reading a case folder."""
