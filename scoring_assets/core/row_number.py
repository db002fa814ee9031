"""The row number: how every stage names a row of an input file.

``ROW_NUMBER`` is the 1-based position of a row among the input file's data records (blank
lines are not records; ragged ones are). The CSV reader assigns it; every lake file is keyed by
it, the reject report names rows by it, and a use case without ids is scored under it. It has
this module to itself so that every layer, the use case declarations included, can name it
without importing anything else.
"""

ROW_NUMBER = "row_number"
