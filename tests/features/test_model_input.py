import ibis
import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer
from sklearn.preprocessing import MinMaxScaler

from book_recs.features import model_input
from book_recs.features.model_input import column_scalings, fit_scaling


def _numbers(columns: int, rows: int = 101) -> pd.DataFrame:
    """Random columns with missing values; the last one is never observed, one is constant."""
    rng = np.random.default_rng(0)
    values = rng.normal(size=(rows, columns)) * rng.uniform(1, 100, size=columns)
    values[rng.random((rows, columns)) < 0.2] = np.nan
    values[:, -1] = np.nan
    values[:, 0] = 3.0
    return pd.DataFrame(values, columns=[f"x{i}" for i in range(columns)])


def test_fit_scaling_takes_every_column_across_passes(monkeypatch):
    numbers = _numbers(35)
    monkeypatch.setattr(model_input, "VALUES_PER_PASS", 16 * len(numbers))  # three passes
    scaling = fit_scaling(ibis.memtable(numbers), list(numbers.columns))
    assert len(scaling) == 1
    assert list(scaling.columns) == [f"{statistic}:{column}" for column in numbers.columns
                                     for statistic in ("median", "minimum", "maximum")]
    for statistic, reduce in [("median", np.nanmedian), ("minimum", np.nanmin),
                              ("maximum", np.nanmax)]:
        observed = numbers.columns[:-1]
        np.testing.assert_array_equal(
            scaling[[f"{statistic}:{column}" for column in observed]].iloc[0].to_numpy(),
            reduce(numbers[observed].to_numpy(), axis=0))
        assert np.isnan(scaling.loc[0, f"{statistic}:{numbers.columns[-1]}"])


def test_column_scalings_equal_sklearn_imputer_then_min_max_scaler():
    numbers = _numbers(17)
    scalings = column_scalings(fit_scaling(ibis.memtable(numbers), list(numbers.columns)))
    imputed = SimpleImputer(strategy="median", keep_empty_features=True).fit(numbers)
    scaler = MinMaxScaler().fit(imputed.transform(numbers))
    np.testing.assert_array_equal([s.median for s in scalings.values()], imputed.statistics_)
    np.testing.assert_array_equal([s.scale for s in scalings.values()], scaler.scale_)
    np.testing.assert_array_equal([s.offset for s in scalings.values()], scaler.min_)
