"""How PK numbers are written on the pages: significant digits without exponents for everyday magnitudes, the
summary cell, the units of CL and Vz."""

from __future__ import annotations

import pytest

from pk.selectors import fmt
from pk.templatetags.pk import pk_unit, summary_cell
from trialrules.pk_summary import summarise


@pytest.mark.parametrize(("value", "digits", "text"), [
    (None, 3, "–"), (0, 3, "0"), (8123.4, 3, "8120"), (99999, 3, "100000"), (147.23, 3, "147"),
    (0.0048457, 4, "0.004846"), (12345678, 3, "1.235e+07"), (21.095, 3, "21.1"),
])
def test_fmt(value, digits, text):
    assert fmt(value, digits) == text


def test_summary_cell_gives_n_geometric_mean_cv_median_and_range():
    cell = summary_cell(summarise([10.0, 20.0, 40.0]), "cmax")
    assert cell.startswith("3: 20 (") and cell.endswith("%), 20 [10 – 40]")  # geo mean of 10, 20, 40 is 20
    assert summary_cell(summarise([4.0, 1.0, 2.0]), "tmax") == "3: 2 [1 – 4]"  # Tmax: median and range only
    assert summary_cell(summarise([49.0]), "cmax") == "1: 49, 49 [49 – 49]"  # one value: no CV
    assert summary_cell(summarise([0.0, 2.0]), "cmax") == "2: median 1 [0 – 2]"  # a 0: no geometric mean
    assert summary_cell(None, "cmax") == "–"


def test_units_of_clearance_and_volume():
    assert (pk_unit("cl", "ug/mL"), pk_unit("vz", "mg/L")) == ("L/h", "L")
    assert (pk_unit("cl", "ng/mL"), pk_unit("vz", "ng/mL")) == ("mg/(ng/mL·h)", "mg/(ng/mL)")
    assert pk_unit("auc", "ug/mL") == "ug/mL·h"
