"""Numbers as the UI shows them: rounded once, here, so no metadata entry reads 0.28621130276323986.

Six decimals keep every figure the product computes (shares, PSI, AUC, thresholds) exact enough
to compare and plot; the files (manifests, lake summaries) keep full precision.
"""

DECIMALS = 6


def figure(value: float) -> float:
    """``value`` as a float rounded to ``DECIMALS`` places (numpy scalars included)."""
    return round(float(value), DECIMALS)
