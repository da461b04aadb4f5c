"""Bad catalog data stops start-up with a CatalogError naming the file and the line at fault."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from app.domain.catalog import CatalogError, RateLimits, load_catalog

VALID = """\
[free_tier]
rpm = 30
tpm = 60_000
tpd = 1_000_000

[[models]]
id = "alpha"
display_name = "Alpha"
input_price_per_million = "0.35"
output_price_per_million = "0.75"
limits = { rpm = 1_000, tpm = 1_000_000 }

[[models.tiers]]
id = "starter"
display_name = "Starter"
monthly_price = "50.00"
limits = { rpm = 60, tpm = 100_000 }
capacity = 100

[[models]]
id = "beta"
display_name = "Beta"
input_price_per_million = "0.20"
output_price_per_million = "0.10"
limits = { rpm = 2_000, tpm = 2_000_000 }
deprecation_date = 2026-05-27

[[models.tiers]]
id = "starter"
display_name = "Beta Starter"
monthly_price = "20.00"
limits = { rpm = 120, tpm = 200_000, tpd = 10_000_000 }
capacity = 200

[[models.tiers]]
id = "scale"
display_name = "Beta Scale"
monthly_price = "250.00"
limits = { rpm = 1_200, tpm = 1_200_000 }
capacity = 20
"""

WriteCatalog = Callable[[str], Path]


@pytest.fixture
def write_catalog(tmp_path: Path) -> WriteCatalog:
    def write(text: str) -> Path:
        path = tmp_path / "catalog.toml"
        path.write_text(text, encoding="utf-8")
        return path

    return write


def edited(old: str, new: str, text: str = VALID) -> str:
    """The text with exactly one occurrence of `old` replaced, so a test can't edit the wrong entry."""
    assert text.count(old) == 1, f"{old!r} is not unique in the catalog text"
    return text.replace(old, new)


def line_of(text: str, fragment: str, occurrence: int = 1) -> int:
    """1-based number of the line holding the n-th occurrence of `fragment`."""
    hits = [number for number, line in enumerate(text.splitlines(), start=1) if fragment in line]
    return hits[occurrence - 1]


def refused(write_catalog: WriteCatalog, text: str, match: str) -> CatalogError:
    path = write_catalog(text)
    with pytest.raises(CatalogError, match=match) as caught:
        load_catalog(path)
    error = caught.value
    assert error.path == path
    assert str(error).startswith(f"{path}:{error.line}: " if error.line else f"{path}: ")
    return error


def test_the_valid_example_loads(write_catalog: WriteCatalog) -> None:
    catalog = load_catalog(write_catalog(VALID))
    assert [model.id for model in catalog.models] == ["alpha", "beta"]
    assert catalog.source == write_catalog(VALID)


@pytest.mark.parametrize(
    ("old", "new", "match"),
    [
        ('"0.20"', '"-0.20"', "must not be negative"),
        ('"0.75"', '"abc"', "must be a decimal string"),
        ('"0.75"', "0.75", "must be a decimal string"),
        ('"0.75"', '"1e3"', "must be a decimal string"),
        ('"0.75"', '" 0.75"', "must be a decimal string"),
        ('"0.75"', '"NaN"', "must be a decimal string"),
        ('"0.35"', '"0.3501"', "more than 3 decimals"),
        ('"0.35"', '"0.0001"', "more than 3 decimals"),
    ],
)
def test_a_bad_token_price_is_refused_on_its_line(
    write_catalog: WriteCatalog, old: str, new: str, match: str
) -> None:
    text = edited(old, new)
    assert refused(write_catalog, text, match).line == line_of(text, new)


def test_trailing_zeros_past_three_decimals_are_still_whole_nano_dollars(write_catalog: WriteCatalog) -> None:
    catalog = load_catalog(write_catalog(edited('"0.35"', '"0.350000"')))
    alpha = catalog.model("alpha")
    assert alpha is not None and alpha.input_price_per_token == 350


@pytest.mark.parametrize(
    ("old", "new", "match"),
    [
        ('"50.00"', '"50.005"', "whole cents"),
        ('"50.00"', '"-50.00"', "must not be negative"),
        ('"50.00"', "50", "must be a decimal string"),
    ],
)
def test_a_bad_monthly_price_is_refused_on_its_line(
    write_catalog: WriteCatalog, old: str, new: str, match: str
) -> None:
    text = edited(old, new)
    assert refused(write_catalog, text, match).line == line_of(text, new)


def test_monthly_prices_become_nano_dollars(write_catalog: WriteCatalog) -> None:
    tier = load_catalog(write_catalog(edited('"50.00"', '"49.99"'))).tier("alpha", "starter")
    assert tier is not None and tier.monthly_price == 49_990_000_000


def test_a_tier_above_the_paygo_limits_is_refused_on_its_limits_line(write_catalog: WriteCatalog) -> None:
    text = edited("{ rpm = 1_200, tpm = 1_200_000 }", "{ rpm = 1_200, tpm = 2_500_000 }")
    error = refused(write_catalog, text, r"tier 'scale' of model 'beta' must not exceed the PayGo limits")
    assert "tpm 2,500,000 > 2,000,000" in str(error)
    assert error.line == line_of(text, "tpm = 2_500_000")


def test_a_tier_without_a_window_that_paygo_limits_is_above_it(write_catalog: WriteCatalog) -> None:
    text = edited("{ rpm = 2_000, tpm = 2_000_000 }", "{ rpm = 2_000, tpm = 2_000_000, tpd = 50_000_000 }")
    error = refused(write_catalog, text, "tpd unlimited > 50,000,000")
    assert error.line == line_of(text, "{ rpm = 1_200, tpm = 1_200_000 }")


def test_a_tier_at_exactly_the_paygo_limits_is_allowed(write_catalog: WriteCatalog) -> None:
    text = edited("{ rpm = 1_200, tpm = 1_200_000 }", "{ rpm = 2_000, tpm = 2_000_000 }")
    tier = load_catalog(write_catalog(text)).tier("beta", "scale")
    assert tier is not None and tier.limits.is_within(RateLimits(2_000, 2_000_000))


def test_a_duplicate_model_id_is_refused_on_the_second_entry(write_catalog: WriteCatalog) -> None:
    text = edited('id = "beta"', 'id = "alpha"')
    error = refused(write_catalog, text, "duplicate model id: 'alpha'")
    assert error.line == line_of(text, 'id = "alpha"', occurrence=2)
    first = line_of(text, 'id = "alpha"')
    assert f"first on line {first}" in str(error)


def test_a_duplicate_tier_id_within_a_model_is_refused_on_the_second_tier(
    write_catalog: WriteCatalog,
) -> None:
    text = edited('id = "scale"', 'id = "starter"')
    error = refused(write_catalog, text, "duplicate tier id in model 'beta': 'starter'")
    assert error.line == line_of(text, 'id = "starter"', occurrence=3)


def test_the_same_tier_id_in_two_models_is_fine(write_catalog: WriteCatalog) -> None:
    catalog = load_catalog(write_catalog(VALID))
    assert catalog.tier("alpha", "starter") != catalog.tier("beta", "starter")


@pytest.mark.parametrize(
    ("old", "new", "typo", "match"),
    [
        (
            'display_name = "Alpha"',
            'display_nme = "Alpha"',
            "display_nme",
            "unknown key 'display_nme' in model 'alpha'; did you mean 'display_name'",
        ),
        (
            "capacity = 100",
            "capacity = 100\ncapcity = 5",
            "capcity",
            "unknown key 'capcity' in tier 'starter'",
        ),
        ("{ rpm = 60, tpm = 100_000 }", "{ rpm = 60, tmp = 100_000 }", "tmp =", "did you mean 'tpm'"),
        ("tpd = 1_000_000", "tpd = 1_000_000\nrpx = 5", "rpx", r"unknown key 'rpx' in \[free_tier\]"),
        ("[free_tier]", "colour = 'blue'\n[free_tier]", "colour", "unknown key 'colour' in the catalog"),
    ],
)
def test_an_unknown_key_is_refused_on_its_line(
    write_catalog: WriteCatalog, old: str, new: str, typo: str, match: str
) -> None:
    text = edited(old, new)
    assert refused(write_catalog, text, match).line == line_of(text, typo)


def test_a_missing_model_key_is_refused_on_the_models_header(write_catalog: WriteCatalog) -> None:
    text = edited('display_name = "Beta"\n', "")
    error = refused(write_catalog, text, "model 'beta' is missing the required key 'display_name'")
    assert error.line == line_of(text, "[[models]]", occurrence=2)


def test_a_missing_tier_key_is_refused_on_the_tiers_header(write_catalog: WriteCatalog) -> None:
    text = edited("capacity = 200\n", "")
    error = refused(
        write_catalog, text, "tier 'starter' of model 'beta' is missing the required key 'capacity'"
    )
    assert error.line == line_of(text, "[[models.tiers]]", occurrence=2)


def test_missing_paygo_minute_limits_are_refused_on_the_limits_line(write_catalog: WriteCatalog) -> None:
    text = edited("{ rpm = 1_000, tpm = 1_000_000 }", "{ rpm = 1_000 }")
    error = refused(write_catalog, text, "PayGo limits of model 'alpha' is missing the required key 'tpm'")
    assert error.line == line_of(text, "{ rpm = 1_000 }")


def test_a_missing_free_tier_table_names_the_file(write_catalog: WriteCatalog) -> None:
    text = edited("[free_tier]\nrpm = 30\ntpm = 60_000\ntpd = 1_000_000\n", "")
    assert refused(write_catalog, text, "missing the required key 'free_tier'").line is None


def test_a_catalog_without_models_is_refused(write_catalog: WriteCatalog) -> None:
    error = refused(write_catalog, "models = []\n[free_tier]\nrpm = 30\ntpm = 60_000\n", "at least one")
    assert error.line == 1


@pytest.mark.parametrize(
    ("old", "new", "match"),
    [
        (
            "{ rpm = 60, tpm = 100_000 }",
            "{ rpm = 0, tpm = 100_000 }",
            "rpm in the limits of tier 'starter'.*positive",
        ),
        (
            "{ rpm = 60, tpm = 100_000 }",
            "{ rpm = 60, tpm = -1 }",
            "tpm in the limits of tier 'starter'.*positive",
        ),
        ("{ rpm = 60, tpm = 100_000 }", "{ rpm = true, tpm = 100_000 }", "positive whole number, not True"),
        ("{ rpm = 60, tpm = 100_000 }", "{ rpm = 1.5, tpm = 100_000 }", "positive whole number, not 1.5"),
        ("capacity = 100", "capacity = 0", "capacity of tier 'starter' of model 'alpha'.*positive"),
        ("capacity = 20\n", "capacity = -3\n", "capacity of tier 'scale'.*positive"),
        ("rpm = 30", "rpm = 0", r"rpm in \[free_tier\].*positive"),
    ],
)
def test_a_non_positive_limit_or_capacity_is_refused_on_its_line(
    write_catalog: WriteCatalog, old: str, new: str, match: str
) -> None:
    text = edited(old, new)
    assert refused(write_catalog, text, match).line == line_of(text, new.strip())


@pytest.mark.parametrize(
    "bad",
    ['"2026-02-30"', '"27/05/2026"', '"2026-5-27"', "2026-05-27T00:00:00Z", "20260527"],
)
def test_a_bad_deprecation_date_is_refused_on_its_line(write_catalog: WriteCatalog, bad: str) -> None:
    text = edited("deprecation_date = 2026-05-27", f"deprecation_date = {bad}")
    error = refused(write_catalog, text, "deprecation_date of model 'beta' must be a date like 2026-05-27")
    assert error.line == line_of(text, "deprecation_date")


def test_a_deprecation_date_may_be_written_as_a_string(write_catalog: WriteCatalog) -> None:
    beta = load_catalog(write_catalog(edited("= 2026-05-27", '= "2026-05-27"'))).model("beta")
    assert beta is not None and beta.deprecation_date == date(2026, 5, 27)


def test_malformed_toml_keeps_tomllibs_message_and_line(write_catalog: WriteCatalog) -> None:
    text = edited("{ rpm = 60, tpm = 100_000 }", "{ rpm = 60, tpm = }")
    error = refused(write_catalog, text, r"malformed TOML: .*\(at line \d+, column \d+\)")
    assert error.line == line_of(text, "tpm = }")


def test_an_impossible_toml_date_is_malformed_toml_on_its_line(write_catalog: WriteCatalog) -> None:
    text = edited("deprecation_date = 2026-05-27", "deprecation_date = 2026-02-30")
    assert refused(write_catalog, text, "malformed TOML").line == line_of(text, "2026-02-30")


def test_a_missing_file_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"
    with pytest.raises(CatalogError, match="cannot read the catalog") as caught:
        load_catalog(path)
    assert str(caught.value).startswith(f"{path}: ")


def test_a_free_tier_override_replaces_only_the_windows_it_names(write_catalog: WriteCatalog) -> None:
    text = edited("deprecation_date = 2026-05-27", "deprecation_date = 2026-05-27\nfree_tier = { rpm = 10 }")
    beta = load_catalog(write_catalog(text)).model("beta")
    assert beta is not None
    assert beta.free_tier_limits == RateLimits(
        requests_per_minute=10, tokens_per_minute=60_000, tokens_per_day=1_000_000
    )


def test_a_free_tier_above_the_paygo_limits_is_refused(write_catalog: WriteCatalog) -> None:
    text = edited(
        "deprecation_date = 2026-05-27", "deprecation_date = 2026-05-27\nfree_tier = { rpm = 5_000 }"
    )
    error = refused(write_catalog, text, "the free tier of model 'beta' must not exceed the PayGo limits")
    assert error.line == line_of(text, "free_tier = { rpm = 5_000 }")


def test_the_default_free_tier_above_a_models_paygo_limits_is_refused_on_its_limits(
    write_catalog: WriteCatalog,
) -> None:
    text = edited("{ rpm = 1_000, tpm = 1_000_000 }", "{ rpm = 20, tpm = 1_000_000 }")
    error = refused(write_catalog, text, "rpm 30 > 20")
    assert error.line == line_of(text, "{ rpm = 20, tpm = 1_000_000 }")


def test_limits_written_as_a_sub_table_are_located_too(write_catalog: WriteCatalog) -> None:
    text = edited(
        "limits = { rpm = 60, tpm = 100_000 }\ncapacity = 100\n",
        "capacity = 100\n[models.tiers.limits]\nrpm = 60\ntpm = 0\n",
    )
    error = refused(write_catalog, text, "tpm in the limits of tier 'starter' of model 'alpha'")
    assert error.line == line_of(text, "tpm = 0")


def test_models_written_as_inline_tables_are_located_by_their_id(write_catalog: WriteCatalog) -> None:
    text = (
        "models = [\n"
        '  { id = "a", display_name = "A", input_price_per_million = "1", output_price_per_million = "1",'
        " limits = { rpm = 100, tpm = 100_000 } },\n"
        '  { id = "a", display_name = "A", input_price_per_million = "1", output_price_per_million = "1",'
        " limits = { rpm = 100, tpm = 100_000 } },\n"
        "]\n"
        "[free_tier]\nrpm = 30\ntpm = 60_000\n"
    )
    error = refused(write_catalog, text, "duplicate model id: 'a'")
    assert error.line == 3
