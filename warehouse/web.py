"""Staff pages under ``/warehouse/``: log in, see the node's work, print pick lists.

Server-rendered (Jinja) views over the same services as the staff JSON API;
the pages are for people at a warehouse PC or a tablet, the API for scripts.
Not part of the OpenAPI document.

Sessions are Flask's signed cookie (HttpOnly, SameSite=Lax, Secure in
production; see shop.config): it holds the staff id, the staff member's
``session_epoch`` at login and the login time. Every request checks them
against the database, so disabling an account or "log out everywhere"
(which bumps the epoch) ends every session at once, and a session lasts one
shift (PERMANENT_SESSION_LIFETIME, 12 h unless configured) from login.
Every POST carries a CSRF token (shop.core.csrf). Failed logins are throttled from the
LoginAttempt table per (e-mail, remote address), per address, and (much higher)
per e-mail across all addresses.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from sqlalchemy import delete, func, select, update
from werkzeug.exceptions import HTTPException

from shop.core.auth import StaffPrincipal, hash_password, password_matches
from shop.core.clock import utcnow
from shop.core.csrf import CSRF_FIELD, csrf_token, csrf_token_sent_is_valid
from shop.core.errors import DomainError, NotFound
from shop.core.extensions import db
from shop.core.i18n import SUPPORTED_LANGUAGES, UnsupportedLanguage, choose_language
from warehouse import fulfilment
from warehouse.models import LoginAttempt, Node, Staff
from warehouse.services import list_lanes
from warehouse.shipment_states import SHIPMENT_STATUSES

log = logging.getLogger(__name__)

web_bp = Blueprint("warehouse_pages", __name__, url_prefix="/warehouse")
# Where the login may send its user back to: these pages and the admin pages.
PAGES_AFTER_LOGIN = ("/warehouse/", "/admin/")

SESSION_LIFETIME = timedelta(hours=12)  # one shift
THROTTLE_WINDOW = timedelta(minutes=15)
# Per e-mail *and* address: guessing one account from one place stops soon, but a
# stranger failing on someone's e-mail cannot lock them out of their own PC.
MAX_FAILURES_PER_EMAIL_AND_ADDRESS = 5
# Higher than per e-mail: a depot's PCs share one address behind its router.
MAX_FAILURES_PER_ADDRESS = 20
# One account guessed at from many addresses: still slowed, far above a person's typos.
MAX_FAILURES_PER_EMAIL = 50
# Attempts older than this are deleted as new ones come in: the table only
# serves the throttle (and a day of history for whoever looks at an attack).
LOGIN_ATTEMPT_RETENTION = timedelta(days=1)


@web_bp.record_once
def _configure(state) -> None:
    app = state.app
    # Flask's default is 31 days; a staff page session should not outlive a
    # shift. An operator who set the lifetime explicitly keeps theirs.
    if app.config["PERMANENT_SESSION_LIFETIME"] == app.default_config["PERMANENT_SESSION_LIFETIME"]:
        app.config["PERMANENT_SESSION_LIFETIME"] = SESSION_LIFETIME


# ------------------------------------------------------------ page language

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "app_name": "SCO Pavilion",
        "warehouse": "Warehouse",
        "login_title": "Staff log in",
        "email": "E-mail",
        "password": "Password",
        "log_in": "Log in",
        "log_out": "Log out",
        "log_out_everywhere": "Log out on all devices",
        "bad_credentials": "Wrong e-mail or password.",
        "account_disabled": "This account is disabled. Ask an operator.",
        "too_many_attempts": "Too many failed attempts. Try again in {minutes} min.",
        "logged_out": "You are logged out.",
        "logged_out_everywhere": "You are logged out on all devices.",
        "session_ended": "Your session ended. Please log in again.",
        "please_log_in": "Please log in to see this page.",
        "signed_in_as": "Signed in as",
        "role_picker": "picker",
        "role_operator": "operator",
        "dashboard": "Nodes",
        "no_nodes": "No nodes to show.",
        "kind_warehouse": "Warehouse",
        "kind_depot": "Transshipment depot",
        "shipments_by_state": "Shipments by state",
        "state": "State",
        "count": "Count",
        "open_pick_lists": "Open pick lists",
        "no_open_pick_lists": "No open pick lists.",
        "new_pick_list": "New pick list",
        "new_pick_list_hint": "Batches the node's shipments that are ready to pick.",
        "max_shipments": "At most (shipments)",
        "carrier": "Carrier",
        "any": "any",
        "create": "Create pick list",
        "max_shipments_invalid": "“At most” must be a whole number from 1 to {most}.",
        "pick_list": "Pick list",
        "node": "Node",
        "status": "Status",
        "created_at": "Created",
        "created_by": "By",
        "shipment_count": "Shipments",
        "unit_count": "Units",
        "position": "#",
        "bin": "Bin",
        "no_bin": "no bin",
        "sku": "SKU",
        "name": "Item",
        "quantity": "Qty",
        "for_shipments": "For shipments",
        "picked": "Picked",
        "shipments": "Shipments in this list",
        "shipment": "Shipment",
        "print": "Print",
        "download_pdf": "PDF",
        "back": "Back to nodes",
        "pl_open": "open",
        "pl_done": "done",
        "pl_cancelled": "cancelled",
        "awaiting_payment": "Awaiting payment",
        "ready_to_pick": "Ready to pick",
        "picking": "Picking",
        "packed": "Packed",
        "shipped": "Shipped",
        "delivered": "Delivered",
        "cancelled": "Cancelled",
        "rerouted": "Rerouted",
        "error": "Error",
        "error_400": "The request could not be processed.",
        "error_csrf": "The form has expired or did not come from this site. "
        "Go back, reload the page and try again.",
        "error_404": "Nothing is here, or it is not at your node.",
        "error_405": "This page does not accept that request.",
        "error_429": "Too many requests. Try again later.",
        "error_500": "Something failed on our side.",
        "language": "Language",
    },
    "ru": {
        "app_name": "Павильон ШОС",
        "warehouse": "Склад",
        "login_title": "Вход для сотрудников",
        "email": "Эл. почта",
        "password": "Пароль",
        "log_in": "Войти",
        "log_out": "Выйти",
        "log_out_everywhere": "Выйти на всех устройствах",
        "bad_credentials": "Неверная почта или пароль.",
        "account_disabled": "Учётная запись отключена. Обратитесь к оператору.",
        "too_many_attempts": "Слишком много неудачных попыток. Повторите через {minutes} мин.",
        "logged_out": "Вы вышли.",
        "logged_out_everywhere": "Вы вышли на всех устройствах.",
        "session_ended": "Сеанс завершён. Войдите снова.",
        "please_log_in": "Войдите, чтобы открыть эту страницу.",
        "signed_in_as": "Вы вошли как",
        "role_picker": "комплектовщик",
        "role_operator": "оператор",
        "dashboard": "Узлы",
        "no_nodes": "Нет узлов для показа.",
        "kind_warehouse": "Склад",
        "kind_depot": "Перевалочный пункт",
        "shipments_by_state": "Отправления по статусам",
        "state": "Статус",
        "count": "Кол-во",
        "open_pick_lists": "Открытые листы сборки",
        "no_open_pick_lists": "Открытых листов сборки нет.",
        "new_pick_list": "Новый лист сборки",
        "new_pick_list_hint": "Собирает в один лист отправления узла, готовые к сборке.",
        "max_shipments": "Не больше (отправлений)",
        "carrier": "Перевозчик",
        "any": "любой",
        "create": "Создать лист сборки",
        "max_shipments_invalid": "«Не больше» — целое число от 1 до {most}.",
        "pick_list": "Лист сборки",
        "node": "Узел",
        "status": "Статус",
        "created_at": "Создан",
        "created_by": "Кем",
        "shipment_count": "Отправлений",
        "unit_count": "Единиц",
        "position": "№",
        "bin": "Ячейка",
        "no_bin": "без ячейки",
        "sku": "Артикул",
        "name": "Товар",
        "quantity": "Кол-во",
        "for_shipments": "Для отправлений",
        "picked": "Собрано",
        "shipments": "Отправления в листе",
        "shipment": "Отправление",
        "print": "Печать",
        "download_pdf": "PDF",
        "back": "К узлам",
        "pl_open": "открыт",
        "pl_done": "завершён",
        "pl_cancelled": "отменён",
        "awaiting_payment": "Ожидает оплаты",
        "ready_to_pick": "Готово к сборке",
        "picking": "Собирается",
        "packed": "Упаковано",
        "shipped": "Отправлено",
        "delivered": "Доставлено",
        "cancelled": "Отменено",
        "rerouted": "Перенаправлено",
        "error": "Ошибка",
        "error_400": "Запрос не удалось обработать.",
        "error_csrf": "Форма устарела или отправлена не с этого сайта. "
        "Вернитесь, обновите страницу и повторите.",
        "error_404": "Здесь ничего нет, или это не на вашем узле.",
        "error_405": "Эта страница не принимает такой запрос.",
        "error_429": "Слишком много запросов. Повторите позже.",
        "error_500": "Что-то сломалось на нашей стороне.",
        "language": "Язык",
    },
    "zh": {
        "app_name": "上合特色商品馆",
        "warehouse": "仓库",
        "login_title": "员工登录",
        "email": "电子邮箱",
        "password": "密码",
        "log_in": "登录",
        "log_out": "退出",
        "log_out_everywhere": "在所有设备上退出",
        "bad_credentials": "邮箱或密码错误。",
        "account_disabled": "该账号已停用，请联系运营人员。",
        "too_many_attempts": "失败次数过多，请 {minutes} 分钟后再试。",
        "logged_out": "您已退出。",
        "logged_out_everywhere": "您已在所有设备上退出。",
        "session_ended": "会话已结束，请重新登录。",
        "please_log_in": "请登录后查看此页面。",
        "signed_in_as": "当前用户",
        "role_picker": "拣货员",
        "role_operator": "运营人员",
        "dashboard": "节点",
        "no_nodes": "没有可显示的节点。",
        "kind_warehouse": "仓库",
        "kind_depot": "转运站",
        "shipments_by_state": "各状态发货单",
        "state": "状态",
        "count": "数量",
        "open_pick_lists": "未完成的拣货单",
        "no_open_pick_lists": "没有未完成的拣货单。",
        "new_pick_list": "新建拣货单",
        "new_pick_list_hint": "把本节点待拣货的发货单合并为一张拣货单。",
        "max_shipments": "最多（发货单数）",
        "carrier": "承运商",
        "any": "任意",
        "create": "创建拣货单",
        "max_shipments_invalid": "“最多”须为 1 到 {most} 之间的整数。",
        "pick_list": "拣货单",
        "node": "节点",
        "status": "状态",
        "created_at": "创建时间",
        "created_by": "创建人",
        "shipment_count": "发货单",
        "unit_count": "件数",
        "position": "序号",
        "bin": "库位",
        "no_bin": "无库位",
        "sku": "SKU",
        "name": "商品",
        "quantity": "数量",
        "for_shipments": "对应发货单",
        "picked": "已拣",
        "shipments": "本单包含的发货单",
        "shipment": "发货单",
        "print": "打印",
        "download_pdf": "PDF",
        "back": "返回节点",
        "pl_open": "进行中",
        "pl_done": "已完成",
        "pl_cancelled": "已取消",
        "awaiting_payment": "待付款",
        "ready_to_pick": "待拣货",
        "picking": "拣货中",
        "packed": "已打包",
        "shipped": "已发货",
        "delivered": "已送达",
        "cancelled": "已取消",
        "rerouted": "已改派",
        "error": "错误",
        "error_400": "无法处理该请求。",
        "error_csrf": "表单已过期或并非来自本站。请返回、刷新页面后重试。",
        "error_404": "此处没有内容，或不属于您的节点。",
        "error_405": "此页面不接受该请求。",
        "error_429": "请求过多，请稍后再试。",
        "error_500": "我们这边出了问题。",
        "language": "语言",
    },
}

LANGUAGE_NAMES = {"en": "English", "ru": "Русский", "zh": "中文"}


def translate(key: str, lang: str, **values: Any) -> str:
    """The page text ``key`` in ``lang`` (English, then the key itself, as fallbacks)."""
    text = LABELS.get(lang, {}).get(key) or LABELS["en"].get(key) or key
    return text.format(**values) if values else text


def page_language() -> str:
    """``?lang=`` (remembered in the session for the next pages), else the session's,
    else Accept-Language. Unlike the API, an unknown ``?lang=`` is ignored: a person
    following a bad link should still get a page."""
    explicit = request.args.get("lang")
    if explicit:
        try:
            lang = choose_language(explicit, None)
        except UnsupportedLanguage:
            pass
        else:
            if session.get("lang") != lang:
                session["lang"] = lang
            return lang
    remembered = session.get("lang")
    if remembered in SUPPORTED_LANGUAGES:
        return remembered
    return choose_language(None, request.headers.get("Accept-Language"))


# ------------------------------------------------------------ sign-in (use cases)
# Kept beside the pages that are their only callers; each is one transaction.


@dataclass(frozen=True)
class SignIn:
    """What became of a login attempt: the staff member, or why not."""

    staff_id: int | None = None
    session_epoch: int = 0
    refused: str | None = None  # bad_credentials | account_disabled | throttled
    retry_after: int = 0  # seconds, when throttled


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes for timezone-aware columns.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


_DUMMY_HASH: list[str] = []


def _dummy_password_hash() -> str:
    # Checked against when the e-mail is unknown, so that an unknown address
    # takes as long to refuse as a wrong password (no account discovery by timing).
    if not _DUMMY_HASH:
        _DUMMY_HASH.append(hash_password("not-a-password-anyone-has"))
    return _DUMMY_HASH[0]


def throttle_wait(email: str, remote_addr: str, now: datetime) -> int:
    """Seconds until another attempt for ``email`` from ``remote_addr`` is allowed (0: now).

    Failures count within a sliding window, under three limits: per (e-mail,
    address), per address, and per e-mail from anywhere. The low per-e-mail limit
    is tied to the address so that failures from elsewhere never lock the owner out
    of their own PC. A successful login for the e-mail resets the e-mail's counts
    (but not the address's: an attacker with one account of their own must not be
    able to reset the address limit).
    """
    window_start = now - THROTTLE_WINDOW
    last_success = db.session.scalar(
        select(func.max(LoginAttempt.at)).where(
            LoginAttempt.email == email,
            LoginAttempt.succeeded.is_(True),
            LoginAttempt.at > window_start,
        )
    )
    email_since = max(window_start, _aware(last_success)) if last_success else window_start
    waits = [0]
    same_email = LoginAttempt.email == email
    same_address = LoginAttempt.remote_addr == remote_addr
    for matches, since, limit in (
        (same_email & same_address, email_since, MAX_FAILURES_PER_EMAIL_AND_ADDRESS),
        (same_address, window_start, MAX_FAILURES_PER_ADDRESS),
        (same_email, email_since, MAX_FAILURES_PER_EMAIL),
    ):
        recent = db.session.scalars(
            select(LoginAttempt.at)
            .where(matches, LoginAttempt.succeeded.is_(False), LoginAttempt.at > since)
            .order_by(LoginAttempt.at.desc())
            .limit(limit)
        ).all()
        if len(recent) >= limit:
            # Allowed again once the oldest of the last ``limit`` failures leaves the window.
            frees_at = _aware(recent[-1]) + THROTTLE_WINDOW
            waits.append(max(1, math.ceil((frees_at - now).total_seconds())))
    return max(waits)


def sign_in_staff(email: str, password: str, remote_addr: str) -> SignIn:
    """Check a staff member's e-mail and password, throttled; every checked attempt is kept.

    A throttled attempt is refused before the password is looked at, and is not
    recorded: the Retry-After it gets stays true. (Two attempts racing past the
    count may both be checked; the limit is a brake on guessing, not a quota.)
    """
    email = email.strip().lower()[:254]
    remote_addr = (remote_addr or "unknown")[:64]
    now = utcnow()
    try:
        wait = throttle_wait(email, remote_addr, now)
        if wait:
            db.session.rollback()
            log.warning("staff login throttled for %r from %s", email, remote_addr)
            return SignIn(refused="throttled", retry_after=wait)
        staff = db.session.scalar(select(Staff).where(Staff.email == email)) if email else None
        if staff is None:
            password_matches(_dummy_password_hash(), password)
            outcome = SignIn(refused="bad_credentials")
        elif not password_matches(staff.password_hash, password):
            outcome = SignIn(refused="bad_credentials")
        elif not staff.is_active:
            # Said only to whoever knows the password: the account exists, ask why.
            outcome = SignIn(refused="account_disabled")
        else:
            outcome = SignIn(staff_id=staff.id, session_epoch=staff.session_epoch)
        db.session.add(
            LoginAttempt(
                email=email,
                remote_addr=remote_addr,
                succeeded=outcome.staff_id is not None,
                at=now,
            )
        )
        db.session.execute(
            delete(LoginAttempt).where(LoginAttempt.at < now - LOGIN_ATTEMPT_RETENTION)
        )
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    if outcome.refused:
        log.info("staff login refused (%s) for %r from %s", outcome.refused, email, remote_addr)
    return outcome


def end_all_sessions(staff_id: int) -> None:
    """Log a staff member out everywhere: every session cookie carries the old epoch."""
    try:
        db.session.execute(
            update(Staff)
            .where(Staff.id == staff_id)
            .values(session_epoch=Staff.session_epoch + 1)
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise


def staff_of_session(staff_id: Any, epoch: Any) -> tuple[StaffPrincipal, str] | None:
    """The principal (and e-mail) behind a page session, or None when the session no
    longer stands: unknown or disabled staff, or an epoch bumped since login."""
    if not isinstance(staff_id, int):
        return None
    found = db.session.execute(
        select(Staff, Node.code)
        .outerjoin(Node, Node.id == Staff.node_id)
        .where(Staff.id == staff_id)
    ).first()
    if found is None:
        return None
    staff, node_code = found
    if not staff.is_active or staff.session_epoch != epoch:
        return None
    principal = StaffPrincipal(
        staff.id, staff.node_id, node_code, staff.role, None, f"staff:{staff.id}"
    )
    return principal, staff.email


# ------------------------------------------------------------ session plumbing


def _start_session(sign_in: SignIn) -> None:
    lang = session.get("lang")
    # A new session on login: nothing set before it (a planted CSRF token, say) survives.
    session.clear()
    session.permanent = True
    session["staff_id"] = sign_in.staff_id
    session["epoch"] = sign_in.session_epoch
    session["login_at"] = int(time.time())
    if lang:
        session["lang"] = lang


def _end_session() -> None:
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang


def load_page_user() -> None:
    """Put the page session's staff member (or None) in ``g.staff``/``g.staff_email``.

    Shared with the admin pages (shop.admin.web): one login, one session for both.
    """
    g.staff = None
    g.staff_email = None
    if "staff_id" not in session:
        return
    lifetime = current_app.permanent_session_lifetime.total_seconds()
    login_at = session.get("login_at")
    fresh = isinstance(login_at, int) and 0 <= time.time() - login_at <= lifetime
    found = staff_of_session(session.get("staff_id"), session.get("epoch")) if fresh else None
    if found is None:
        _end_session()
        g.session_ended = True
        return
    g.staff, g.staff_email = found


def safe_next_url(candidate: str | None) -> str | None:
    """``candidate`` if it is a path of the staff or admin pages, else None (no open
    redirect).

    Only ``/warehouse/...`` and ``/admin/...`` (the admin pages share this login) are
    accepted, which also rules out ``//host``, ``/\\host`` and every absolute URL a
    browser would leave the site for.
    """
    if not candidate or len(candidate) > 2000:
        return None
    if not candidate.startswith(PAGES_AFTER_LOGIN):
        return None
    if any(ch in candidate for ch in "\\\r\n\t") or any(ord(ch) < 32 for ch in candidate):
        return None
    return candidate


def login_required(view: Callable) -> Callable:
    """Pass the page user to the view as ``staff``; redirect to the login page without one."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        if g.staff is None:
            if request.method == "GET":
                target = request.full_path if request.query_string else request.path
            else:  # after login, a GET of a form's target would not repeat the form
                target = url_for(".dashboard")
            flash(translate("session_ended" if g.get("session_ended") else "please_log_in", g.lang))
            return redirect(url_for(".login", next=target))
        kwargs["staff"] = g.staff
        return view(*args, **kwargs)

    return wrapper


@web_bp.before_request
def _before_page() -> None:
    g.lang = page_language()
    load_page_user()
    if request.method not in ("GET", "HEAD", "OPTIONS") and not csrf_token_sent_is_valid():
        log.warning("CSRF token missing or wrong on %s %s", request.method, request.path)
        abort(400, description="csrf")


@web_bp.after_request
def _no_store(response: Response) -> Response:
    # Pick lists name shoppers' shipments; shared warehouse PCs must not keep them.
    response.headers["Cache-Control"] = "no-store"
    response.vary.add("Cookie")
    return response


def _language_url(lang: str) -> str:
    if request.method == "GET" and request.endpoint:
        args = {**request.args.to_dict(), **(request.view_args or {}), "lang": lang}
        return url_for(request.endpoint, **args)
    return url_for(".dashboard", lang=lang)


@web_bp.context_processor
def _page_context() -> dict[str, Any]:
    lang = g.get("lang", "en")
    return {
        "lang": lang,
        "t": lambda key, **values: translate(key, lang, **values),
        "csrf_field": CSRF_FIELD,
        "csrf_token": csrf_token,
        "current_staff": g.get("staff"),
        "current_email": g.get("staff_email"),
        "languages": LANGUAGE_NAMES,
        "language_url": _language_url,
    }


@web_bp.app_template_filter("staff_time")
def _staff_time(value: Any) -> str:
    """A moment as staff read it on a printout: ``2025-03-01 09:30 UTC``."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime):
        return _aware(value).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return "" if value is None else str(value)


def _error_page(status: int, message_key: str, detail: str | None = None) -> Response:
    page = render_template(
        "warehouse/error.html", status=status, message_key=message_key, detail=detail
    )
    return make_response(page, status)


@web_bp.errorhandler(HTTPException)
def _http_error_page(error: HTTPException) -> Response:
    status = error.code or 500
    if status == 400 and error.description == "csrf":
        return _error_page(400, "error_csrf")
    key = f"error_{status}" if f"error_{status}" in LABELS["en"] else "error_400"
    response = _error_page(status, key)
    if status == 405:
        response.headers["Allow"] = ", ".join(error.valid_methods or [])  # type: ignore[attr-defined]
    return response


@web_bp.errorhandler(DomainError)
def _domain_error_page(error: DomainError) -> Response:
    if error.status == 404:
        return _error_page(404, "error_404")
    return _error_page(error.status, "error_400", error.detail)


# ------------------------------------------------------------ pages


@web_bp.route("/login", methods=["GET", "POST"])
def login():
    """The login form; on success a fresh session and a redirect to ``next`` (or the nodes)."""
    next_url = safe_next_url(request.values.get("next"))
    if request.method == "GET":
        if g.staff is not None:
            return redirect(next_url or url_for(".dashboard"))
        return render_template("warehouse/login.html", next_url=next_url, email="")

    email = request.form.get("email", "")
    outcome = sign_in_staff(email, request.form.get("password", ""), request.remote_addr or "")
    if outcome.staff_id is None:
        if outcome.refused == "throttled":
            minutes = max(1, math.ceil(outcome.retry_after / 60))
            error = translate("too_many_attempts", g.lang, minutes=minutes)
            status = 429
        else:
            error = translate(outcome.refused or "bad_credentials", g.lang)
            status = 200
        response = make_response(
            render_template("warehouse/login.html", next_url=next_url, email=email, error=error),
            status,
        )
        if outcome.retry_after:
            response.headers["Retry-After"] = str(outcome.retry_after)
        return response
    _start_session(outcome)
    return redirect(next_url or url_for(".dashboard"), code=303)


@web_bp.post("/logout")
def logout():
    """End this browser's session (other devices stay logged in)."""
    _end_session()
    flash(translate("logged_out", g.lang))
    return redirect(url_for(".login"), code=303)


@web_bp.post("/logout-everywhere")
@login_required
def logout_everywhere(staff: StaffPrincipal):
    """End every session of the staff member, on every device (a lost phone, a shared PC)."""
    end_all_sessions(staff.staff_id)
    _end_session()
    flash(translate("logged_out_everywhere", g.lang))
    return redirect(url_for(".login"), code=303)


def _problem_text(error: DomainError) -> str:
    text = error.detail or error.title
    for field, reasons in (error.errors or {}).items():
        text += f" {field}: {' '.join(map(str, reasons)) if isinstance(reasons, list) else reasons}"
    return text


def _ordered_states(counts: dict[str, int]) -> list[tuple[str, int]]:
    """Every shipment state in lifecycle order (zeros too: a node's board keeps its shape),
    then any state the lifecycle does not list."""
    known = [(state, counts.get(state, 0)) for state in SHIPMENT_STATUSES]
    return known + sorted((s, n) for s, n in counts.items() if s not in SHIPMENT_STATUSES)


@web_bp.get("/")
@login_required
def dashboard(staff: StaffPrincipal):
    """The staff member's node (operators: every node) with shipments per state,
    open pick lists, and a form to batch ready shipments into a new pick list."""
    nodes = fulfilment.node_overview(staff, g.lang)
    # The carrier filter of a pick list matches a lane's first leg: offer those.
    carriers: dict[str, set[str]] = {}
    for lane in list_lanes(None if staff.is_operator else staff.node_code):
        if lane["active"] and lane["legs"]:
            carriers.setdefault(lane["node"], set()).add(lane["legs"][0]["carrier"])
    return render_template(
        "warehouse/dashboard.html",
        nodes=nodes,
        carriers={node: sorted(names) for node, names in carriers.items()},
        ordered_states=_ordered_states,
        max_pick_list_size=fulfilment.MAX_PICK_LIST_SIZE,
    )


@web_bp.post("/nodes/<code>/pick-lists")
@login_required
def create_pick_list(code: str, staff: StaffPrincipal):
    """Batch the node's ready shipments into a pick list and show it."""
    raw_max = request.form.get("max_shipments", "").strip()
    max_shipments = None
    if raw_max:
        if not (raw_max.isascii() and raw_max.isdecimal()) or not (
            1 <= int(raw_max) <= fulfilment.MAX_PICK_LIST_SIZE
        ):
            flash(
                translate("max_shipments_invalid", g.lang, most=fulfilment.MAX_PICK_LIST_SIZE),
                "error",
            )
            return redirect(url_for(".dashboard"), code=303)
        max_shipments = int(raw_max)
    carrier = request.form.get("carrier", "").strip() or None
    try:
        document = fulfilment.create_pick_list(
            staff, code.upper(), max_shipments=max_shipments, carrier=carrier
        )
    except NotFound:
        raise
    except DomainError as error:
        # "Nothing ready to pick" and the like: said on the board the form is on.
        flash(_problem_text(error), "error")
        return redirect(url_for(".dashboard"), code=303)
    return redirect(url_for(".pick_list", pick_list_id=document["id"]), code=303)


@web_bp.get("/pick-lists/<int(max=2147483647):pick_list_id>")
@login_required
def pick_list(pick_list_id: int, staff: StaffPrincipal):
    """A pick list as a page made for printing (A4: bins bold, quantities large)."""
    document = fulfilment.pick_list_document(staff, pick_list_id, g.lang)
    return render_template("warehouse/pick_list.html", pick_list=document)


@web_bp.get("/pick-lists/<int(max=2147483647):pick_list_id>.pdf")
@login_required
def pick_list_pdf(pick_list_id: int, staff: StaffPrincipal):
    """The pick list as PDF, for the logged-in page user (the API's takes a bearer token)."""
    pdf = fulfilment.pick_list_pdf(staff, pick_list_id, g.lang)
    response = make_response(pdf)
    response.mimetype = "application/pdf"
    response.headers["Content-Disposition"] = f'inline; filename="pick-list-{pick_list_id}.pdf"'
    return response
