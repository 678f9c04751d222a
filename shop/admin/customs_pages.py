"""Admin pages for customs order records: pick a China day, see the records of the
orders to China whose first parcel left that day (ID numbers masked), the orders held
back with their reasons, and download the day as CEB311-style XML or JSON.

The list itself shows no full ID number, so looking is not audited; each download is
an export, audited like one made through the API.
"""

from __future__ import annotations

from datetime import date, datetime

from flask import Blueprint, current_app, json, render_template, request

from orders.customs import order_records
from shop.admin.web import current_operator, protect_admin_blueprint
from shop.core.errors import ValidationFailed

customs_pages_bp = Blueprint("admin_customs_pages", __name__, url_prefix="/admin/customs")
protect_admin_blueprint(customs_pages_bp)


def china_today() -> date:
    return datetime.now(order_records.CHINA_TIME).date()


def _day_asked() -> tuple[date | None, str | None]:
    """The ``date`` parameter (default: today in China), or the reason it is not one."""
    raw = (request.args.get("date") or "").strip()
    if not raw:
        return china_today(), None
    try:
        return date.fromisoformat(raw), None
    except ValueError:
        return None, "Use a date as YYYY-MM-DD."


@customs_pages_bp.get("/")
def index():
    """The day's records (IDs masked), what was held back, and the download links."""
    day, error = _day_asked()
    if day is None:
        page = render_template("admin/customs.html", day=request.args.get("date", ""),
                               error=error, export=None)  # fmt: skip
        return page, 422
    export = order_records.build_export(
        order_records.ExportWindow(day, day), reveal_id_numbers=False
    )
    return render_template(
        "admin/customs.html",
        day=day.isoformat(),
        error=None,
        export=export.summary_json(),
        missing_settings=export.parties.missing(),
    )


@customs_pages_bp.get("/orders.<any(xml, json):output>")
def download(output: str):
    """The day's records as a file to hand to the broker: full ID numbers, audited."""
    day, error = _day_asked()
    if day is None:
        raise ValidationFailed(errors={"date": [error]})
    window = order_records.ExportWindow(day, day)
    export = order_records.export_order_records(current_operator(), window, output)
    if output == "xml":
        body, mimetype = export.xml, "application/xml"
    else:
        body = json.dumps(export.as_json(), ensure_ascii=False, indent=1)
        mimetype = "application/json"
    response = current_app.response_class(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = (
        f'attachment; filename="ceb311-orders-{day.isoformat()}.{output}"'
    )
    return response
