"""The entry points: ``gunicorn wsgi:app``, ``flask --app wsgi ...`` and
``celery --app wsgi:celery_app worker`` / ``beat``."""

from shop import create_app
from shop.core.celery_app import make_celery

app = create_app()
celery_app = make_celery(app)
