"""CDEK's API over one ``requests`` session: GETs retried by urllib3, a bearer token
from the client credentials, renewed before it expires or once on a 401, and
every answer that is not a 2xx JSON object turned into the port's errors."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from warehouse.carriers.base import (
    CarrierConfigurationError,
    CarrierError,
    CarrierRejected,
    CarrierUnavailable,
)
from warehouse.carriers.cdek.answers import error_strings, retry_after_seconds

# The adapter's one logger, as before it was split in modules.
log = logging.getLogger(__package__)

RETRYABLE_GET_STATUSES = (500, 502, 503, 504)


def build_session(retries: int, backoff: float) -> requests.Session:
    """A session whose urllib3 retries only GETs, and never on a refused
    connection (the task retrying the call backs off better than a loop here).

    ``connect=0`` matters: urllib3 retries connection errors whatever the
    method, and we want a POST to leave exactly once per call.
    """
    retry = Retry(
        total=retries,
        connect=0,
        read=retries,
        status=retries,
        other=0,
        allowed_methods=frozenset({"GET"}),
        status_forcelist=RETRYABLE_GET_STATUSES,
        backoff_factor=backoff,
        respect_retry_after_header=False,  # a long wait belongs to the task, not this thread
        raise_on_status=False,
    )
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


class CdekClient:
    """Calls to CDEK's API with a bearer token, which the threads using one client share."""

    def __init__(
        self,
        api_base: str,
        client_id: str,
        client_secret: str,
        *,
        session: requests.Session,
        timeout: tuple[float, float],
        token_margin: float,
        clock: Callable[[], float],
    ):
        self.api_base = api_base
        self.client_id = client_id
        self.client_secret = client_secret
        self.session = session
        self.timeout = timeout
        self.token_margin = token_margin
        self._clock = clock
        self._token_lock = threading.Lock()
        self._token: str | None = None
        self._token_renew_at = 0.0

    def call(
        self,
        method: str,
        path: str = "",
        *,
        url: str | None = None,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        authorize: bool = True,
        accept: str = "application/json",
    ) -> requests.Response:
        """One API call with a bearer token; a 401 renews the token and sends
        the call once more (CDEK refused it before doing anything)."""
        target = url or self.api_base + path
        for attempt in (1, 2):
            headers = {"Accept": accept}
            token = self._access_token() if authorize else None
            if token:
                headers["Authorization"] = f"Bearer {token}"
            response = self.send(method, target, json=json, params=params, headers=headers)
            if response.status_code != 401 or not authorize:
                return response
            errors = error_strings(self.body(response))
            if attempt == 1:
                log.info(
                    "CDEK answered 401 to %s %s (%s); renewing the token", method, path, errors
                )
                self._forget_token(token)
                continue
            raise CarrierConfigurationError(
                f"CDEK refuses a freshly issued token for {method} {path or target}: "
                f"{', '.join(errors) or 'HTTP 401'}"
            )
        raise AssertionError("unreachable")  # pragma: no cover

    def send(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        try:
            return self.session.request(method, url, timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            unknown = method != "GET" and may_have_arrived(exc)
            raise CarrierUnavailable(
                f"CDEK {method} {urlsplit(url).path} failed: {type(exc).__name__}: {exc}",
                outcome_unknown=unknown,
            ) from exc

    @staticmethod
    def body(response: requests.Response) -> Any:
        if not response.content:
            return {}
        try:
            return response.json(parse_float=Decimal)
        except ValueError:
            return {}

    def json_or_raise(self, response: requests.Response, what: str) -> dict[str, Any]:
        """The JSON body of a 2xx answer; the port's error for any other."""
        status = response.status_code
        body = self.body(response)
        if status == 429 or status >= 500:
            # A gateway's 500/502/504 may hide a call CDEK carried out anyway.
            method = response.request.method if response.request is not None else "GET"
            raise CarrierUnavailable(
                f"CDEK answered {status} to the {what}",
                retry_after=retry_after_seconds(response.headers.get("Retry-After")),
                outcome_unknown=method != "GET" and status in (500, 502, 504),
            )
        if status >= 400:
            errors = error_strings(body) or (f"http_{status}: {response.reason or ''}".strip(),)
            raise CarrierRejected(f"CDEK refused the {what}: {'; '.join(errors)}", errors=errors)
        if not isinstance(body, dict):
            raise CarrierError(f"CDEK's answer to the {what} is not a JSON object")
        return body

    def json_or_raise_list(self, response: requests.Response, what: str) -> list[Any]:
        """The JSON array of a 2xx answer (CDEK's lists: offices, cities); the port's
        error for any other answer."""
        if response.status_code >= 400:
            self.json_or_raise(response, what)  # raises the port's error for it
        body = self.body(response)
        if not isinstance(body, list):
            raise CarrierError(f"CDEK's answer to the {what} is not a JSON array")
        return body

    # -- OAuth ------------------------------------------------------------------

    def _access_token(self) -> str:
        with self._token_lock:
            if self._token and self._clock() < self._token_renew_at:
                return self._token
            token, expires_in = self._fetch_token()
            self._token = token
            # A token that lives no longer than the margin serves this call only.
            self._token_renew_at = self._clock() + max(0.0, expires_in - self.token_margin)
            return token

    def _forget_token(self, token: str | None) -> None:
        with self._token_lock:
            if self._token == token:
                self._token = None

    def _fetch_token(self) -> tuple[str, float]:
        response = self.send(
            "POST",
            self.api_base + "/v2/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": self.client_id,
                "client_secret": self.client_secret,
            },
            headers={"Accept": "application/json"},
        )
        status = response.status_code
        if status == 429 or status >= 500:
            raise CarrierUnavailable(
                f"CDEK answered {status} to the token request",
                retry_after=retry_after_seconds(response.headers.get("Retry-After")),
            )
        body = self.body(response)
        if status >= 400:
            raise CarrierConfigurationError(
                f"CDEK refuses the client credentials (HTTP {status}): "
                f"{body.get('error') if isinstance(body, dict) else ''}"
            )
        token = body.get("access_token") if isinstance(body, dict) else None
        if not token:
            raise CarrierError("CDEK's token answer has no access_token")
        try:
            expires_in = float(body.get("expires_in") or 0)
        except (TypeError, ValueError, ArithmeticError):
            expires_in = 0.0
        return str(token), expires_in


def may_have_arrived(exc: requests.RequestException) -> bool:
    """Whether the request may have reached CDEK before ``exc``: not when the
    connection was never made (refused, DNS, connect timeout)."""
    if isinstance(exc, requests.ConnectTimeout):
        return False
    if isinstance(exc, requests.ConnectionError):
        reason = exc.args[0] if exc.args else None
        reason = getattr(reason, "reason", reason)
        name = type(reason).__name__
        if name in ("NewConnectionError", "NameResolutionError", "ConnectTimeoutError"):
            return False
    return True
