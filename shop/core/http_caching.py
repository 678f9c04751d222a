"""HTTP caching for public reads: ETag, Cache-Control, 304 on If-None-Match.

A CDN in front of the shop can then serve catalog pages, and clients that
poll get a 304 with no body.
"""

from __future__ import annotations

from functools import wraps

from flask import current_app, request


def public_cache(view):
    """Mark a view's successful responses cacheable by anyone for CATALOG_CACHE_SECONDS."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        response = view(*args, **kwargs)
        if response.status_code == 200:
            response.cache_control.public = True
            response.cache_control.max_age = current_app.config["CATALOG_CACHE_SECONDS"]
            # The language may come from this header, so caches must key on it.
            response.vary.add("Accept-Language")
            response.add_etag()
            response.make_conditional(request)
        return response

    return wrapper
