"""The karyogram view: chromosomes upright in class slots, synced with the metaphase, editable, exportable."""
