"""Every report a person reads: the drift and trend pages and the model evaluation charts, drawn one way.

``palette`` holds the colours, ``svg`` and ``charts`` draw inline SVG, ``pages`` renders the Jinja2
templates in ``templates/``; ``drift``, ``trend`` and ``evaluation`` are the reports themselves.
Everything is offline (no script, font or stylesheet is fetched) and deterministic (the same
inputs give the same bytes), so pages open from an archive and DVC outputs rebuild identically.
This file imports nothing: the evaluation charts need only the SVG helpers, not Jinja2.
"""
