"""The seeded catalog: the published models, prices and limits, deprecation and exact pricing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from app.domain.catalog import Catalog, CatalogModel, RateLimits, load_catalog


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture
def gpt_oss(catalog: Catalog) -> CatalogModel:
    model = catalog.model("gpt-oss-120b")
    assert model is not None
    return model


@pytest.fixture
def qwen(catalog: Catalog) -> CatalogModel:
    model = catalog.model("qwen-3-235b-a22b-instruct-2507")
    assert model is not None
    return model


def test_the_catalog_offers_exactly_the_four_published_models(catalog: Catalog) -> None:
    assert [model.id for model in catalog.models] == [
        "gpt-oss-120b",
        "zai-glm-4.7",
        "qwen-3-235b-a22b-instruct-2507",
        "llama3.1-8b",
    ]


@pytest.mark.parametrize(
    ("model_id", "display_name", "input_price", "output_price", "tpm", "rpm", "deprecation_date"),
    [
        ("gpt-oss-120b", "GPT OSS 120B", 350, 750, 1_000_000, 1_000, None),
        ("zai-glm-4.7", "Z.ai GLM 4.7", 2_250, 2_750, 500_000, 500, None),
        (
            "qwen-3-235b-a22b-instruct-2507",
            "Qwen 3 235B Instruct",
            600,
            1_200,
            500_000,
            500,
            date(2026, 5, 27),
        ),
        ("llama3.1-8b", "Llama 3.1 8B", 100, 100, 2_000_000, 2_000, date(2026, 5, 27)),
    ],
)
def test_each_model_has_its_published_prices_in_nano_dollars_per_token_and_paygo_limits(
    catalog: Catalog,
    model_id: str,
    display_name: str,
    input_price: int,
    output_price: int,
    tpm: int,
    rpm: int,
    deprecation_date: date | None,
) -> None:
    model = catalog.model(model_id)
    assert model is not None
    assert model.display_name == display_name
    assert (model.input_price_per_token, model.output_price_per_token) == (input_price, output_price)
    assert type(model.input_price_per_token) is int and type(model.output_price_per_token) is int
    assert model.paygo_limits == RateLimits(requests_per_minute=rpm, tokens_per_minute=tpm)
    assert model.deprecation_date == deprecation_date


def test_every_model_gets_the_published_free_tier_of_personal_orgs(catalog: Catalog) -> None:
    published = RateLimits(requests_per_minute=30, tokens_per_minute=60_000, tokens_per_day=1_000_000)
    assert {model.id: model.free_tier_limits for model in catalog.models} == {
        model.id: published for model in catalog.models
    }


def test_every_model_offers_starter_growth_and_scale_tiers_within_its_paygo_limits(catalog: Catalog) -> None:
    for model in catalog.models:
        assert [tier.id for tier in model.tiers] == ["starter", "growth", "scale"]
        prices = [tier.monthly_price for tier in model.tiers]
        assert prices == sorted(prices), f"{model.id}: bigger tiers cost more"
        for tier in model.tiers:
            assert tier.limits.is_within(model.paygo_limits)
            assert tier.limits != model.paygo_limits
            assert tier.capacity > 0
            assert tier.monthly_price % 10_000_000 == 0, "whole cents"


def test_gpt_oss_tiers_have_their_seeded_prices_limits_and_capacities(gpt_oss: CatalogModel) -> None:
    assert [(t.display_name, t.monthly_price, t.capacity) for t in gpt_oss.tiers] == [
        ("Starter", 50_000_000_000, 100),
        ("Growth", 200_000_000_000, 50),
        ("Scale", 750_000_000_000, 10),
    ]
    assert gpt_oss.tiers[0].limits == RateLimits(
        requests_per_minute=60, tokens_per_minute=100_000, tokens_per_day=5_000_000
    )


def test_lookups_find_models_and_tiers_and_answer_none_for_unknown_ones(catalog: Catalog) -> None:
    growth = catalog.tier("zai-glm-4.7", "growth")
    assert growth is not None and growth.monthly_price == 800_000_000_000
    assert catalog.model("gpt-5") is None
    assert catalog.tier("gpt-5", "growth") is None
    assert catalog.tier("zai-glm-4.7", "enterprise") is None


def test_a_model_is_usable_until_the_last_instant_before_its_deprecation_date(qwen: CatalogModel) -> None:
    midnight = datetime(2026, 5, 27, tzinfo=UTC)
    assert qwen.deprecated_at == midnight
    assert not qwen.is_deprecated(midnight - timedelta(microseconds=1))
    assert qwen.is_deprecated(midnight)
    assert qwen.is_deprecated(midnight + timedelta(days=365))


def test_the_deprecation_boundary_is_midnight_utc_whatever_the_callers_timezone(qwen: CatalogModel) -> None:
    paris_summer = timezone(timedelta(hours=2))
    assert not qwen.is_deprecated(datetime(2026, 5, 27, 1, 59, tzinfo=paris_summer))
    assert qwen.is_deprecated(datetime(2026, 5, 27, 2, 0, tzinfo=paris_summer))


def test_a_model_without_a_deprecation_date_is_never_deprecated(gpt_oss: CatalogModel) -> None:
    assert gpt_oss.deprecated_at is None
    assert not gpt_oss.is_deprecated(datetime(2100, 1, 1, tzinfo=UTC))


def test_deprecation_refuses_a_naive_time(qwen: CatalogModel) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        qwen.is_deprecated(datetime(2026, 5, 27))


def test_pricing_is_exact_to_the_nano_dollar(gpt_oss: CatalogModel) -> None:
    assert gpt_oss.price_of(1_234_567, 89) == 1_234_567 * 350 + 89 * 750 == 432_165_200
    assert gpt_oss.price_of(1_000_000, 1_000_000) == 1_100_000_000  # $0.35 + $0.75
    assert gpt_oss.price_of(0, 0) == 0


def test_pricing_charges_input_and_output_tokens_at_their_own_rates(catalog: Catalog) -> None:
    glm = catalog.model("zai-glm-4.7")
    assert glm is not None
    assert glm.price_of(1, 0) == 2_250
    assert glm.price_of(0, 1) == 2_750


def test_pricing_refuses_negative_token_counts(gpt_oss: CatalogModel) -> None:
    with pytest.raises(ValueError, match="negative"):
        gpt_oss.price_of(-1, 10)
