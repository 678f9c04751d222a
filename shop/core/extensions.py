"""Extensions, created unbound and bound to an app in ``create_app``.

Nothing here touches a database or an app at import time, so tests and
workers can build as many apps as they like.
"""

from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from shop.core.api_base import PavilionApi

# Stable constraint names, so that Alembic can alter them on SQLite and
# PostgreSQL alike (SQLite has no names of its own to fall back on).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
api = PavilionApi()
