"""Field selection over the feature schema (shared by FinalMLP and the CatBoost baselines)."""

import pytest

from book_recs.models.feature_spec import drop_fields, field_order, select_fields


def test_select_fields_matches_globs_and_rejects_unknown_names(specs):
    assert select_fields(specs, ["Book-Title_*"]) == [1, 2]
    assert [field_order(specs)[i].name for i in select_fields(specs, ["state"])] == ["state"]
    with pytest.raises(ValueError, match="match no field"):
        select_fields(specs, ["genre"])


def test_drop_fields_keeps_the_others_in_field_order(specs):
    kept = drop_fields(specs, ["Book-Title_*"])
    assert [s.name for s in kept] == [s.name for s in field_order(specs)
                                      if not s.name.startswith("Book-Title_")]
    assert drop_fields(specs, []) == field_order(specs)
    with pytest.raises(ValueError, match="match no field"):
        drop_fields(specs, ["Book-Titel_*"])
