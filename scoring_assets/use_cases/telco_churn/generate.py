"""Synthetic, labelled Telco-shaped customer extracts that look and behave like the real one.

They let the pipeline train, test and benchmark without the public IBM extract, at sizes it
never reaches (10M rows). Every distribution is calibrated on that extract: the service mix
by customer profile, tenure by contract, the price as the sum of the services taken (20 for
phone, 25 DSL / 50 fiber, 5 per protection add-on, 10 per streaming service), and churn from
a logistic model fitted to the real labels, so a model trained here reaches a realistic ROC
AUC (about 0.85), not a trivial one. Values are written the way the real file writes them,
down to TotalCharges being a single space for customers with tenure 0.

Determinism: every row consumes exactly ``len(_DRAWS)`` uniforms from one PCG64 stream keyed
by ``seed``, so row ``i`` is a pure function of ``(seed, i)``. A chunk starting at row ``r``
jumps the stream ahead by ``r * len(_DRAWS)``, hence any chunking yields the same rows.
Customer ids are an invertible affine map of the row number, so they never collide.

Run ``python -m scoring_assets.use_cases.telco_churn.generate`` to write the training extract configured
in ``params.yaml`` (section ``telco_churn.generate``); ``--help`` lists the ad-hoc options.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from scoring_assets.core.files import atomic_path
from scoring_assets.training import generator_command
from scoring_assets.use_cases.telco_churn import USE_CASE
from scoring_assets.use_cases.telco_churn.contract import INTERNET_ADDON_COLUMNS

CONTRACT_COLUMNS = USE_CASE.contract_columns
LABEL_COLUMN = USE_CASE.label.column

YES_NO = ("Yes", "No")
GENDERS = ("Female", "Male")
INTERNET_SERVICES = ("DSL", "Fiber optic", "No")
CONTRACTS = ("Month-to-month", "One year", "Two year")
PAYMENT_METHODS = ("Electronic check", "Mailed check", "Bank transfer (automatic)", "Credit card (automatic)")
NO_PHONE_SERVICE = "No phone service"
NO_INTERNET_SERVICE = "No internet service"
BLANK_TOTAL_CHARGES = " "

# Probabilities measured on the real extract. A table's rows are indexed by the level of the
# column it is conditioned on; a tuple of P(Yes) is indexed the same way.
_MALE = 0.505
_SENIOR = 0.162
_PARTNER = 0.483
_DEPENDENTS_GIVEN_PARTNER = (0.514, 0.099)  # Yes, No
_INTERNET_GIVEN_SENIOR = ((0.366, 0.384, 0.250), (0.227, 0.727, 0.046))  # not senior, senior
_PHONE_GIVEN_INTERNET = (0.718, 1.0, 1.0)
_MULTIPLE_LINES_GIVEN_INTERNET = (0.397, 0.626, 0.224)  # among phone customers
_ADDON_GIVEN_INTERNET = {  # DSL, Fiber optic
    "OnlineSecurity": (0.487, 0.271),
    "OnlineBackup": (0.449, 0.434),
    "DeviceProtection": (0.440, 0.438),
    "TechSupport": (0.487, 0.280),
    "StreamingTV": (0.395, 0.565),
    "StreamingMovies": (0.405, 0.566),
}
_CONTRACT_GIVEN_INTERNET = ((0.505, 0.235, 0.260), (0.687, 0.174, 0.139), (0.343, 0.239, 0.418))
_PAPERLESS_GIVEN_INTERNET = (0.549, 0.774, 0.292)
_PAYMENT_GIVEN_CONTRACT = (
    (0.477, 0.230, 0.153, 0.140),
    (0.236, 0.229, 0.265, 0.270),
    (0.099, 0.225, 0.333, 0.343),
)
# Tenure in months is 72 * Kumaraswamy(a, b) rounded up: beta-like, with a closed-form
# inverse CDF. Customers with tenure 0 (signed, not yet billed) are on long contracts.
_MAX_TENURE = 72
_TENURE_SHAPE_GIVEN_CONTRACT = ((0.55, 1.51), (1.45, 1.04), (1.41, 0.34))
_NEW_CUSTOMER_GIVEN_CONTRACT = (0.0, 0.0007, 0.006)

_PHONE_PRICE = 20.0
_MULTIPLE_LINES_PRICE = 5.0
_INTERNET_PRICE = (25.0, 50.0, 0.0)
_ADDON_PRICE = {
    "OnlineSecurity": 5.0,
    "OnlineBackup": 5.0,
    "DeviceProtection": 5.0,
    "TechSupport": 5.0,
    "StreamingTV": 10.0,
    "StreamingMovies": 10.0,
}
_PRICE_NOISE = 0.02  # relative standard deviation of the monthly charge around its price list
_PRICE_STEPS_PER_UNIT = 20  # the real extract's charges are multiples of 0.05
_MONTHLY_CHARGE_RANGE = (18.25, 118.75)
_HISTORY_NOISE = 0.05  # relative spread of past months' charges around the current one

# Churn log-odds, fitted to the real extract with a logistic regression on these factors.
_CHURN_INTERCEPT = -1.9
_CHURN_LOG_ODDS = {
    "month_to_month": 1.6,
    "one_year": 0.9,
    "fiber_optic": 0.9,
    "no_internet": -0.35,
    "electronic_check": 0.35,
    "no_tech_support": 0.3,
    "no_online_security": 0.35,
    "paperless_billing": 0.4,
    "senior": 0.25,
    "streaming": 0.4,
    "dependents": -0.15,
    "log1p_tenure": -0.65,
}

# One uniform per name, per row, in this order; appending a name changes every extract.
_DRAWS = (
    "gender",
    "senior",
    "partner",
    "dependents",
    "internet",
    "phone",
    "multiple_lines",
    *INTERNET_ADDON_COLUMNS,
    "contract",
    "new_customer",
    "tenure",
    "paperless",
    "payment",
    "noise_radius",
    "noise_angle",
    "churn",
)

# Ids look like the real ones ("7590-VHVEG"): 4 digits, a dash, 5 capital letters.
_ID_LETTER_CODES = 26**5
_ID_SPACE = 10**4 * _ID_LETTER_CODES
_ID_BITS = 37  # the smallest power of two above _ID_SPACE
_MAX_ROWS = _ID_SPACE  # one id per row, never reused

DEFAULT_CHUNK_ROWS = 500_000
_CSV_OPTIONS = pacsv.WriteOptions(include_header=False, quoting_style="none")


def generate_extract(n_rows: int, seed: int, labelled: bool = True) -> pd.DataFrame:
    """``n_rows`` customers as the CSV carries them: the contract's columns, plus ``Churn`` if labelled.

    Categorical columns and TotalCharges are strings, SeniorCitizen and tenure integers,
    MonthlyCharges a float. Equal arguments give equal frames.
    """
    return pa.concat_tables(_extract_chunks(n_rows, seed, labelled)).to_pandas()


def write_extract(
    path: Path | str, n_rows: int, seed: int, labelled: bool = True, chunk_rows: int = DEFAULT_CHUNK_ROWS
) -> Path:
    """Write ``generate_extract(n_rows, seed, labelled)`` as a CSV, ``chunk_rows`` rows at a time.

    Memory stays flat whatever ``n_rows`` is, the rows do not depend on ``chunk_rows``, and the
    file appears at ``path`` only once complete. Format as the real extract: LF line ends,
    a header, no quoting, no index.
    """
    path = Path(path)
    header = ",".join(_output_columns(labelled)) + "\n"
    with atomic_path(path) as temporary, open(temporary, "wb") as sink:
        sink.write(header.encode("utf-8"))
        for chunk in _extract_chunks(n_rows, seed, labelled, chunk_rows):
            pacsv.write_csv(chunk, sink, _CSV_OPTIONS)
    return path


def _output_columns(labelled: bool) -> list[str]:
    return [*CONTRACT_COLUMNS, *([LABEL_COLUMN] if labelled else [])]


def _extract_chunks(n_rows: int, seed: int, labelled: bool, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[pa.Table]:
    """The extract as consecutive tables of at most ``chunk_rows`` rows (one empty table if no rows)."""
    if not 0 <= n_rows <= _MAX_ROWS:
        raise ValueError(f"n_rows must be between 0 and {_MAX_ROWS:,}, got {n_rows:,}")
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be positive, got {chunk_rows}")
    for first_row in range(0, max(n_rows, 1), chunk_rows):
        yield _customers(seed, first_row, min(chunk_rows, n_rows - first_row), labelled)


def _customers(seed: int, first_row: int, n_rows: int, labelled: bool) -> pa.Table:
    """Rows ``first_row`` .. ``first_row + n_rows - 1`` of the extract for ``seed``."""
    rows_stream, ids_stream = np.random.SeedSequence(seed).spawn(2)
    draw = _uniform_draws(rows_stream, first_row, n_rows)
    senior = draw["senior"] < _SENIOR
    partner = draw["partner"] < _PARTNER
    dependents = draw["dependents"] < _by_level(_DEPENDENTS_GIVEN_PARTNER, (~partner).astype(np.intp))
    internet = _pick(draw["internet"], _INTERNET_GIVEN_SENIOR, senior.astype(np.intp))
    has_internet = internet != INTERNET_SERVICES.index("No")
    phone = draw["phone"] < _by_level(_PHONE_GIVEN_INTERNET, internet)
    multiple_lines = phone & (draw["multiple_lines"] < _by_level(_MULTIPLE_LINES_GIVEN_INTERNET, internet))
    addons = {  # P(Yes) is 0 without internet
        name: draw[name] < _by_level((*_ADDON_GIVEN_INTERNET[name], 0.0), internet) for name in INTERNET_ADDON_COLUMNS
    }
    contract = _pick(draw["contract"], _CONTRACT_GIVEN_INTERNET, internet)
    tenure = _tenure(draw["tenure"], draw["new_customer"], contract)
    paperless = draw["paperless"] < _by_level(_PAPERLESS_GIVEN_INTERNET, internet)
    payment = _pick(draw["payment"], _PAYMENT_GIVEN_CONTRACT, contract)
    monthly_noise, history_noise = _standard_normal_pair(draw["noise_radius"], draw["noise_angle"])

    monthly = _monthly_charges(_list_price(phone, multiple_lines, internet, addons), monthly_noise)
    churn_log_odds = _churn_log_odds(
        {
            "month_to_month": contract == CONTRACTS.index("Month-to-month"),
            "one_year": contract == CONTRACTS.index("One year"),
            "fiber_optic": internet == INTERNET_SERVICES.index("Fiber optic"),
            "no_internet": ~has_internet,
            "electronic_check": payment == PAYMENT_METHODS.index("Electronic check"),
            "no_tech_support": has_internet & ~addons["TechSupport"],
            "no_online_security": has_internet & ~addons["OnlineSecurity"],
            "paperless_billing": paperless,
            "senior": senior,
            "streaming": addons["StreamingTV"] | addons["StreamingMovies"],
            "dependents": dependents,
            "log1p_tenure": np.log1p(tenure),
        }
    )

    columns = {
        "customerID": _customer_ids(ids_stream, first_row, n_rows),
        "gender": _text(GENDERS, draw["gender"] < _MALE),
        "SeniorCitizen": pa.array(senior.astype(np.int64)),
        "Partner": _yes_no(partner),
        "Dependents": _yes_no(dependents),
        "tenure": pa.array(tenure),
        "PhoneService": _yes_no(phone),
        "MultipleLines": _service_text(multiple_lines, phone, NO_PHONE_SERVICE),
        "InternetService": _text(INTERNET_SERVICES, internet),
        **{name: _service_text(taken, has_internet, NO_INTERNET_SERVICE) for name, taken in addons.items()},
        "Contract": _text(CONTRACTS, contract),
        "PaperlessBilling": _yes_no(paperless),
        "PaymentMethod": _text(PAYMENT_METHODS, payment),
        "MonthlyCharges": pa.array(monthly),
        "TotalCharges": _total_charges(monthly, tenure, history_noise),
        # A customer who has not been billed yet has not had the chance to leave.
        LABEL_COLUMN: _yes_no((tenure > 0) & (draw["churn"] < 1.0 / (1.0 + np.exp(-churn_log_odds)))),
    }
    return pa.table({name: columns[name] for name in _output_columns(labelled)})


def _uniform_draws(rows_stream: np.random.SeedSequence, first_row: int, n_rows: int) -> dict[str, np.ndarray]:
    """One uniform per row and draw name, the same for a row whichever chunk it is generated in."""
    bit_generator = np.random.PCG64(rows_stream)
    bit_generator.advance(first_row * len(_DRAWS))  # one 64-bit draw per uniform
    uniforms = np.random.Generator(bit_generator).random((n_rows, len(_DRAWS)))
    return dict(zip(_DRAWS, uniforms.T, strict=True))


def _list_price(phone: np.ndarray, multiple_lines: np.ndarray, internet: np.ndarray, addons: dict) -> np.ndarray:
    """The monthly price of the services taken, before noise."""
    return (
        _PHONE_PRICE * phone
        + _MULTIPLE_LINES_PRICE * multiple_lines
        + _by_level(_INTERNET_PRICE, internet)
        + sum(_ADDON_PRICE[name] * taken for name, taken in addons.items())
    )


def _by_level(values, level_index: np.ndarray) -> np.ndarray:
    """``values[level]`` for every row's level index."""
    return np.asarray(values, dtype=np.float64)[level_index]


def _pick(uniform: np.ndarray, probabilities, condition: np.ndarray) -> np.ndarray:
    """Level index per row, drawn by inverse CDF from the probability row its ``condition`` selects."""
    table = np.asarray(probabilities, dtype=np.float64)
    upper_bounds = np.cumsum(table, axis=1)[:, :-1]  # the last level takes the rest
    return (uniform[:, None] >= upper_bounds[condition]).sum(axis=1)


def _tenure(uniform: np.ndarray, new_customer_uniform: np.ndarray, contract: np.ndarray) -> np.ndarray:
    shape = np.asarray(_TENURE_SHAPE_GIVEN_CONTRACT)[contract]
    a, b = shape[:, 0], shape[:, 1]
    fraction = (1.0 - (1.0 - uniform) ** (1.0 / b)) ** (1.0 / a)
    months = np.clip(np.ceil(_MAX_TENURE * fraction), 1, _MAX_TENURE).astype(np.int64)
    return np.where(new_customer_uniform < _by_level(_NEW_CUSTOMER_GIVEN_CONTRACT, contract), 0, months)


def _standard_normal_pair(radius_uniform: np.ndarray, angle_uniform: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two independent standard normals per row from two uniforms (Box-Muller)."""
    radius = np.sqrt(-2.0 * np.log1p(-radius_uniform))
    angle = 2.0 * np.pi * angle_uniform
    return radius * np.cos(angle), radius * np.sin(angle)


def _monthly_charges(price: np.ndarray, noise: np.ndarray) -> np.ndarray:
    charged = np.clip(price * (1.0 + _PRICE_NOISE * noise), *_MONTHLY_CHARGE_RANGE)
    return np.round(charged * _PRICE_STEPS_PER_UNIT) / _PRICE_STEPS_PER_UNIT


def _total_charges(monthly: np.ndarray, tenure: np.ndarray, noise: np.ndarray) -> pa.Array:
    """Charges to date as the real extract writes them: shortest decimal text, " " at tenure 0.

    The first month is billed at today's charge, earlier months around it.
    """
    history = np.clip(1.0 + _HISTORY_NOISE * noise, 0.7, 1.3)
    total = np.round(100.0 * monthly * (1.0 + np.maximum(tenure - 1, 0) * history)) / 100.0
    return pc.if_else(pa.array(tenure == 0), BLANK_TOTAL_CHARGES, pa.array(total).cast(pa.string()))


def _churn_log_odds(factors: dict[str, np.ndarray]) -> np.ndarray:
    weighted = (_CHURN_LOG_ODDS[name] * np.asarray(value, dtype=np.float64) for name, value in factors.items())
    return _CHURN_INTERCEPT + sum(weighted)


def _text(levels: tuple[str, ...], level_index: np.ndarray) -> pa.Array:
    return pa.array(levels, type=pa.string()).take(np.asarray(level_index, dtype=np.intp))


def _yes_no(flag: np.ndarray) -> pa.Array:
    return _text(YES_NO, ~flag)


def _service_text(taken: np.ndarray, available: np.ndarray, unavailable: str) -> pa.Array:
    """Yes / No where the customer could take the service, ``unavailable`` where they cannot."""
    return _text((*YES_NO, unavailable), np.where(available, (~taken).astype(np.intp), 2))


def _customer_ids(stream: np.random.SeedSequence, first_row: int, n_rows: int) -> pa.Array:
    """Unique, real-looking ids: the row number pushed through a seeded permutation of the id space.

    The permutation is a bijective 37-bit mixer, re-applied to the codes that fall outside the
    id space ("cycle walking"), so distinct rows can never share an id.
    """
    offset, *multipliers = (int(value) for value in stream.generate_state(3, np.uint64))
    rows = np.arange(first_row, first_row + n_rows, dtype=np.uint64)
    codes = (rows + np.uint64(offset % _ID_SPACE)) % np.uint64(_ID_SPACE)
    outside = np.ones(n_rows, dtype=bool)
    while outside.any():
        codes[outside] = _mix_id_bits(codes[outside], multipliers)
        outside = codes >= _ID_SPACE

    characters = np.empty((n_rows, 10), dtype=np.uint8)
    digits, letters = np.divmod(codes, np.uint64(_ID_LETTER_CODES))
    for position in range(3, -1, -1):
        digits, characters[:, position] = np.divmod(digits, np.uint64(10))
        characters[:, position] += ord("0")
    characters[:, 4] = ord("-")
    for position in range(9, 4, -1):
        letters, characters[:, position] = np.divmod(letters, np.uint64(26))
        characters[:, position] += ord("A")
    return pa.array(characters.view("S10").ravel()).cast(pa.string())


def _mix_id_bits(codes: np.ndarray, multipliers: list[int]) -> np.ndarray:
    """A permutation of the integers below 2**_ID_BITS: xor-shifts and odd multiplications only."""
    mask = np.uint64((1 << _ID_BITS) - 1)
    shift = np.uint64(_ID_BITS // 2)
    for multiplier in multipliers:
        codes = codes ^ (codes >> shift)
        codes = (codes * np.uint64(multiplier | 1)) & mask  # wraps mod 2**64, a multiple of 2**_ID_BITS
    return codes ^ (codes >> shift)


def main(argv: list[str] | None = None) -> None:
    generator_command(
        "telco_churn",
        "Write a synthetic Telco-shaped customer extract as CSV.",
        "customers",
        LABEL_COLUMN,
        write_extract,
        argv,
    )


if __name__ == "__main__":
    main()
