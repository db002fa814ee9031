"""The Dagster wiring, generated per use case and loaded by ``load_from_defs_folder`` (see ``use_cases.py``)."""
