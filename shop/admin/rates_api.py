"""Admin API for exchange rates: what each pair converts at and how old it is, rates
set by hand, the feeds and their runs. Operators only (``admin_api_operator``)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import ClassVar

import marshmallow as ma
from flask.views import MethodView

from catalog import rate_feeds
from shop.admin.web import operator_only_on
from shop.core.api_base import Blueprint, shaped_json

admin_rates_blp = Blueprint("admin_rates", __name__, url_prefix="/api/v1/admin/rates",
                            description="Operators: exchange rates and their feeds")  # fmt: skip


_operator_only = operator_only_on(admin_rates_blp)


class DecimalText(ma.fields.Field):
    """A decimal sent as a JSON string ("11.42") or number (11.42), read exactly as
    written: through its text, never through a binary float."""

    default_error_messages: ClassVar[dict[str, str]] = {"invalid": "Not a decimal number."}

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise self.make_error("invalid")
        try:
            return Decimal(str(value).strip())
        except InvalidOperation as error:
            raise self.make_error("invalid") from error

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else str(value)


class RateSchema(ma.Schema):
    base = ma.fields.String(required=True, metadata={"example": "CNY"})
    quote = ma.fields.String(required=True, metadata={"example": "RUB"})
    pair = ma.fields.String(required=True, metadata={"example": "CNY/RUB"})
    direction = ma.fields.String(
        required=True,
        metadata={"description": "as published", "example": "1 CNY = 11.2364 RUB"},
    )
    rate = ma.fields.String(required=True, metadata={"description": "1 base = rate quote"})
    inverse_rate = ma.fields.String(required=True, metadata={"description": "1 quote = ? base"})
    effective_on = ma.fields.Date(required=True)
    source = ma.fields.String(
        required=True, metadata={"description": "cbr, manual, demo-seed; '#n': a same-day fix"}
    )
    feed = ma.fields.String(required=True)
    fetched_at = ma.fields.DateTime(allow_none=True, metadata={"description": "row stored at"})
    confirmed_at = ma.fields.DateTime(
        allow_none=True,
        metadata={"description": "the feed's last successful run that still quoted the pair"},
    )
    age_hours = ma.fields.Float(
        required=True,
        metadata={"description": "hours since the later of effective_on and confirmed_at"},
    )
    stale = ma.fields.Boolean(required=True, metadata={"description": "age over the maximum"})


class RateListSchema(ma.Schema):
    as_of = ma.fields.DateTime(required=True)
    max_age_hours = ma.fields.Float(
        required=True, metadata={"description": "PAVILION_RATES_MAX_AGE_HOURS"}
    )
    any_stale = ma.fields.Boolean(required=True)
    stale_pairs = ma.fields.List(ma.fields.String(), required=True)
    items = ma.fields.List(ma.fields.Nested(RateSchema), required=True)
    total = ma.fields.Integer(required=True)


class SetRateSchema(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    base = ma.fields.String(required=True, metadata={"example": "CNY"})
    quote = ma.fields.String(required=True, metadata={"example": "RUB"})
    rate = DecimalText(
        required=True,
        metadata={"description": "1 base = rate quote", "type": "string", "example": "11.42"},
    )
    effective_on = ma.fields.Date(metadata={"description": "default: today (UTC)"})


class SetRateResultSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    base = ma.fields.String(required=True)
    quote = ma.fields.String(required=True)
    rate = ma.fields.String(required=True)
    effective_on = ma.fields.Date(required=True)
    source = ma.fields.String(required=True)
    fetched_at = ma.fields.DateTime(allow_none=True)
    created = ma.fields.Boolean(
        required=True, metadata={"description": "false: the same rate was already set that day"}
    )
    in_force_today = ma.fields.Boolean(
        required=True,
        metadata={"description": "false: a newer quote of the pair wins, or the day is ahead"},
    )


class FeedRunSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    feed = ma.fields.String(required=True)
    actor = ma.fields.String(required=True, metadata={"description": "beat, cli or staff:<id>"})
    outcome = ma.fields.String(required=True, metadata={"enum": ["ok", "failed"]})
    started_at = ma.fields.DateTime(required=True)
    finished_at = ma.fields.DateTime(required=True)
    published_on = ma.fields.Date(allow_none=True)
    rates_seen = ma.fields.Integer(required=True)
    rows_added = ma.fields.Integer(required=True)
    error = ma.fields.String(allow_none=True)


class FeedSchema(ma.Schema):
    name = ma.fields.String(required=True)
    description = ma.fields.String(required=True)
    installed = ma.fields.Boolean(required=True)
    can_fetch = ma.fields.Boolean(required=True)
    problem = ma.fields.String(allow_none=True)
    last_outcome = ma.fields.String(allow_none=True)
    last_success = ma.fields.Nested(FeedRunSchema, allow_none=True)
    last_failure = ma.fields.Nested(FeedRunSchema, allow_none=True)


class FeedListSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(FeedSchema), required=True)
    total = ma.fields.Integer(required=True)
    recent_runs = ma.fields.List(ma.fields.Nested(FeedRunSchema), required=True)


@admin_rates_blp.route("")
class Rates(MethodView):
    @_operator_only
    @admin_rates_blp.response(200, RateListSchema)
    def get(self, operator):
        """The rate each currency pair converts at today, with its age.

        One rate per pair: the newest quote of either direction (so CNY→RUB and
        RUB→CNY agree). `age_hours` counts from the later of the rate's day and the
        last successful run of its feed that still quoted the pair; over
        `max_age_hours` it is `stale`: checkout still converts at it, and the
        admin page shows a warning.
        """
        return shaped_json(rate_feeds.rate_ages())

    @_operator_only
    @admin_rates_blp.arguments(SetRateSchema)
    @admin_rates_blp.response(201, SetRateResultSchema)
    @admin_rates_blp.alt_response(409, description="Manual rates are not enabled")
    @admin_rates_blp.alt_response(422, description="Unknown currency, bad rate or date")
    def post(self, body, operator):
        """Set a rate by hand: 1 `base` = `rate` `quote` from `effective_on` (today).

        A new row (rates are never edited), audited as `rate.set`. Setting the same
        pair again on the same day adds a correction that is in force from then on;
        the same figure again changes nothing (`created: false`).
        """
        made = rate_feeds.set_rate(
            operator, body["base"], body["quote"], body["rate"], body.get("effective_on")
        )
        return shaped_json(made, status=201)


@admin_rates_blp.route("/feeds")
class Feeds(MethodView):
    @_operator_only
    @admin_rates_blp.response(200, FeedListSchema)
    def get(self, operator):
        """The enabled rate feeds with their last success and last failure, and the
        most recent runs of any feed."""
        return shaped_json(rate_feeds.feed_status())


@admin_rates_blp.route("/feeds/<string(maxlength=40):name>/fetch")
class FeedFetch(MethodView):
    @_operator_only
    @admin_rates_blp.response(200, FeedRunSchema)
    @admin_rates_blp.alt_response(409, description="The feed's rates are set by hand")
    def post(self, name, operator):
        """Fetch the feed now and answer the run: `outcome` ok (with the rates seen and
        the new rows) or failed (with the `error`; the rates in force are kept).

        The daily job does the same for every enabled feed that fetches. An unknown
        or disabled feed is a 404.
        """
        return shaped_json(rate_feeds.fetch_rates(name, operator))
