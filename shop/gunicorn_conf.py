"""gunicorn settings shared by ``flask --app wsgi serve`` and the Docker image
(``gunicorn --config python:shop.gunicorn_conf``).

The access log leaves out query strings: an order page's ``?token=`` is the
shopper's secret and must not land in log files (``%(U)s`` is the path alone).

The request limits are the outer wall. What gunicorn refuses never reaches the app,
so its answer is gunicorn's own plain HTML page, not problem+json; each limit is
therefore set above the app's own (``shop.core.web_hardening``), which answers
first, in the shop's contract, for anything a client could reasonably send.

Stopping: on SIGTERM (``docker stop``, a deploy) the master stops accepting
connections and tells each worker to finish the request it is serving, then
exit; a worker still busy after ``graceful_timeout`` seconds is killed. Whatever
stops gunicorn must wait longer than that before its own SIGKILL: compose.yaml
gives web a ``stop_grace_period`` of 40 s (Docker's default is 10 s). Thirty
seconds covers the slowest request the shop serves: a checkout waiting on Stripe
(``STRIPE_TIMEOUT_SECONDS`` 10, one network retry) or a bulk upload of 10,000 SKUs.
"""

access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s "%(a)s" %(L)s'

# "GET <target> HTTP/1.1" in bytes; gunicorn's highest allowed value. Its default
# (4094) answered a 5.5 KB search link with its own HTML 414; the app refuses a
# target over MAX_REQUEST_TARGET_BYTES (6144) with a problem+json 414 first.
limit_request_line = 8190
# Header lines in one request; a browser sends about 20. More answers gunicorn's 431.
limit_request_fields = 100
# One header line ("Name: value") in bytes: room for a large cookie or bearer token.
# Longer answers gunicorn's 431.
limit_request_field_size = 8190

# Seconds a worker gets to finish its request after SIGTERM (gunicorn's default,
# written down because compose.yaml and the README depend on it).
graceful_timeout = 30
