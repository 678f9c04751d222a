"""The committed OpenAPI document (``openapi_snapshot.json``) and how to rewrite it.

Run ``python -m tests.api.openapi_snapshot`` after a deliberate API change.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SNAPSHOT = Path(__file__).with_name("openapi_snapshot.json")


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False)


def main() -> None:
    from shop import create_app

    app = create_app({"DATABASE_URL": "sqlite://"})
    document = app.test_client().get("/api/v1/openapi.json").get_json()
    SNAPSHOT.write_text(render(document), encoding="utf-8")
    print(f"wrote {SNAPSHOT}")


if __name__ == "__main__":
    main()
