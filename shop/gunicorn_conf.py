"""gunicorn settings shared by ``flask --app wsgi serve`` and the Docker image
(``gunicorn --config python:shop.gunicorn_conf``).

The access log leaves out query strings: an order page's ``?token=`` is the
shopper's secret and must not land in log files (``%(U)s`` is the path alone).
"""

access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s "%(a)s" %(L)s'
