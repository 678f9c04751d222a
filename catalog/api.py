"""Catalog endpoints: thin views over catalog.services."""

from __future__ import annotations

from flask import request
from flask.views import MethodView

from catalog import services
from catalog.schemas import (
    CategoryListSchema,
    LocaleQuerySchema,
    ProductDetailQuerySchema,
    ProductDetailSchema,
    ProductListQuerySchema,
    ProductPageSchema,
)
from shop.api_base import Blueprint, shaped_json
from shop.http_caching import public_cache
from shop.i18n import choose_language

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
