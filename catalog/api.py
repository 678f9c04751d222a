"""Catalog endpoints: thin views over catalog.services (shoppers), catalog.merchant_skus
and catalog.sku_upsert (merchants)."""

from __future__ import annotations

from flask import request
from flask.views import MethodView

from catalog import merchant_skus, services, sku_upsert
from catalog.auth import merchant_required
from catalog.schemas import (
    BulkQuerySchema,
    CategoryListSchema,
    LocaleQuerySchema,
    MerchantSkuPageSchema,
    MerchantSkuQuerySchema,
    MerchantSkuSchema,
    ProductDetailQuerySchema,
    ProductDetailSchema,
    ProductListQuerySchema,
    ProductPageSchema,
    SkuInSchema,
    SkuPatchSchema,
    UpsertReportSchema,
)
from catalog.sku_csv import CSV_PROBLEM_DESCRIPTIONS, MAX_ROWS, CsvProblem, parse_sku_csv
from catalog.sku_upsert import IncomingRow
from shop.core.api_base import Blueprint, bearer_protected, json_body, reads_json_body, shaped_json
from shop.core.errors import PayloadTooLarge, ValidationFailed, register_problem_types
from shop.core.http_caching import public_cache
from shop.core.i18n import choose_language

register_problem_types(CSV_PROBLEM_DESCRIPTIONS)

categories_blp = Blueprint(
    "categories",
    __name__,
    url_prefix="/api/v1/categories",
    description="The 11 pavilion categories",
)
products_blp = Blueprint(
    "products", __name__, url_prefix="/api/v1/products", description="Products on sale"
)

NOT_MODIFIED = {"description": "Not modified: the If-None-Match ETag still holds"}


def _language(args: dict) -> str:
    return choose_language(args.pop("lang", None), request.headers.get("Accept-Language"))


@categories_blp.route("")
class Categories(MethodView):
    decorators = (public_cache,)

    @categories_blp.arguments(LocaleQuerySchema(only=("lang",)), location="query")
    @categories_blp.response(200, CategoryListSchema)
    @categories_blp.alt_response(304, **NOT_MODIFIED)
    def get(self, args):
        """The categories in shelf order, localized, with product counts."""
        lang = _language(args)
        return shaped_json(services.list_categories(lang), {"Content-Language": lang})


@products_blp.route("")
class Products(MethodView):
    decorators = (public_cache,)

    @products_blp.arguments(ProductListQuerySchema, location="query")
    @products_blp.response(200, ProductPageSchema)
    @products_blp.alt_response(304, **NOT_MODIFIED)
    def get(self, args):
        """Products on sale: filter, search (zh/ru/en), sort, paginate, price in one currency."""
        lang = _language(args)
        page = services.list_products(services.ProductQuery(lang=lang, **args))
        return shaped_json(page, {"Content-Language": lang})


@products_blp.route("/<int(max=2147483647):product_id>")
class ProductDetail(MethodView):
    decorators = (public_cache,)

    @products_blp.arguments(ProductDetailQuerySchema, location="query")
    @products_blp.response(200, ProductDetailSchema)
    @products_blp.alt_response(304, **NOT_MODIFIED)
    @products_blp.alt_response(404, description="No such product on sale")
    def get(self, args, product_id):
        """One product: its SKUs, prices in the asked currency, and which nodes
        can ship it to each destination country."""
        lang = _language(args)
        destination = (args.get("destination") or "").upper() or None
        product = services.get_product(product_id, lang, args.get("currency"), destination)
        return shaped_json(product, {"Content-Language": lang})


# ------------------------------------------------------------ merchant API


def _body(schema, content_type: str = "application/json") -> dict:
    return {"required": True, "content": {content_type: {"schema": schema}}}


def _sku_object(body: object) -> dict:
    if not isinstance(body, dict):
        raise ValidationFailed(errors={"_body": ["Send one SKU as a JSON object."]})
    return body


merchant_blp = Blueprint(
    "merchant",
    __name__,
    url_prefix="/api/v1/merchant",
    description="A merchant's own SKUs and orders (bearer token of a merchant)",
)

SKU_CODE = "<string(maxlength=64):code>"


merchant_only = bearer_protected(merchant_blp, merchant_required, who="merchant")


@merchant_blp.route("/skus")
class MerchantSkus(MethodView):
    @merchant_only
    @merchant_blp.arguments(MerchantSkuQuerySchema, location="query")
    @merchant_blp.response(200, MerchantSkuPageSchema)
    def get(self, args, merchant):
        """The merchant's own SKUs with stock per node; filters and pages."""
        return shaped_json(merchant_skus.list_merchant_skus(merchant, **args))

    @merchant_only
    @reads_json_body(merchant_blp)
    @merchant_blp.doc(requestBody=_body(SkuInSchema))
    @merchant_blp.response(201, MerchantSkuSchema)
    @merchant_blp.alt_response(409, description="The SKU code is already in use")
    @merchant_blp.alt_response(422, description="Invalid fields, each named in `errors`")
    def post(self, merchant):
        """Create a SKU (and its product, from `product_code` and the texts)."""
        document = merchant_skus.create_sku(merchant, _sku_object(json_body()))
        return shaped_json(document, status=201)


@merchant_blp.route(f"/skus/{SKU_CODE}")
class MerchantSku(MethodView):
    @merchant_only
    @merchant_blp.response(200, MerchantSkuSchema)
    @merchant_blp.alt_response(404, description="No such SKU of this merchant")
    def get(self, code, merchant):
        """One of the merchant's SKUs (another merchant's is a 404)."""
        return shaped_json(merchant_skus.get_merchant_sku(merchant, code))

    @merchant_only
    @reads_json_body(merchant_blp)
    @merchant_blp.doc(requestBody=_body(SkuInSchema))
    @merchant_blp.response(200, MerchantSkuSchema)
    @merchant_blp.alt_response(201, schema=MerchantSkuSchema, description="Created")
    @merchant_blp.alt_response(409, description="The SKU code belongs to another merchant")
    @merchant_blp.alt_response(422, description="Invalid fields, each named in `errors`")
    def put(self, code, merchant):
        """Replace the SKU with the body (or create it under this code)."""
        document, created = merchant_skus.put_sku(merchant, code, _sku_object(json_body()))
        return shaped_json(document, status=201 if created else 200)

    @merchant_only
    @reads_json_body(merchant_blp)
    @merchant_blp.doc(requestBody=_body(SkuPatchSchema, "application/merge-patch+json"))
    @merchant_blp.response(200, MerchantSkuSchema)
    @merchant_blp.alt_response(404, description="No such SKU of this merchant")
    @merchant_blp.alt_response(422, description="Invalid fields, each named in `errors`")
    def patch(self, code, merchant):
        """Change some fields (JSON merge patch: `null` removes an optional text)."""
        patch = _sku_object(json_body())
        return shaped_json(merchant_skus.patch_sku(merchant, code, patch))

    @merchant_only
    @merchant_blp.response(204)
    @merchant_blp.alt_response(404, description="No such SKU of this merchant")
    @merchant_blp.alt_response(409, description="In unshipped orders: deactivate it instead")
    def delete(self, code, merchant):
        """Delete the SKU; its product leaves the storefront with its last SKU."""
        merchant_skus.delete_sku(merchant, code)
        return "", 204


@merchant_blp.route("/skus/bulk", methods=["POST"])
@merchant_only
@merchant_blp.arguments(BulkQuerySchema, location="query")
@merchant_blp.doc(
    requestBody={
        "required": True,
        "content": {
            "text/csv": {
                "schema": {"type": "string"},
                "example": "sku,product_code,category,name_en,name_ru,name_zh,description_en,"
                "description_ru,description_zh,origin_country,hs_code,weight_g,shelf_life_days,"
                "price,currency,stock,length_mm,width_mm,height_mm\n",
            },
            "application/json": {"schema": {"type": "array", "items": SkuInSchema}},
        },
    }
)
@merchant_blp.response(200, UpsertReportSchema)
@merchant_blp.alt_response(
    207, schema=UpsertReportSchema, description="Some rows failed (skip_failed)"
)
@merchant_blp.alt_response(400, description="The JSON body does not parse")
@merchant_blp.alt_response(413, description="Over 10,000 rows or over the body size limit")
@merchant_blp.alt_response(415, description="Neither text/csv nor application/json")
@merchant_blp.alt_response(422, description="A row failed (reject_all) or the CSV is unreadable")
def bulk_upsert(args, merchant):
    """Upsert up to 10,000 SKUs by code from CSV or JSON; a report per row.

    `dry_run=true` validates and reports without writing. Uploading the same
    file again changes nothing and reports every row unchanged.
    """
    rows = bulk_rows_from_request()
    report = sku_upsert.upsert_skus(merchant, rows, **args)
    body = report.as_json()
    if report.failed and not report.written and not report.dry_run:
        raise ValidationFailed(
            f"{report.failed} of {len(report.outcomes)} rows failed; nothing was written.",
            errors={f"row {e['row']}": e["errors"] for e in body["errors"][:100]},
            report=body,
        )
    return shaped_json(body, status=207 if report.failed and report.written else 200)


def bulk_rows_from_request() -> list[IncomingRow]:
    """The uploaded rows, from CSV or JSON, numbered as the merchant sees them."""
    if request.mimetype in ("text/csv", "application/csv"):
        try:
            parsed = parse_sku_csv(request.get_data(cache=False))
        except CsvProblem as problem:
            error_class = PayloadTooLarge if problem.code == "too_many_rows" else ValidationFailed
            raise error_class(
                problem.detail, code=problem.code, errors=problem.errors or None, line=problem.line
            ) from None
        return [IncomingRow(row.line, row.data, row.errors) for row in parsed]
    body = json_body()
    if not isinstance(body, list):
        raise ValidationFailed(errors={"_body": ["Send a JSON list of SKU objects."]})
    if not body:
        raise ValidationFailed("The upload has no rows.", code="empty_file")
    if len(body) > MAX_ROWS:
        raise PayloadTooLarge(
            f"The upload has {len(body):,} rows; send at most {MAX_ROWS:,} per request.",
            code="too_many_rows",
        )
    return [IncomingRow(position, item) for position, item in enumerate(body, start=1)]
