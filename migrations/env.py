import asyncio
import subprocess
import sys
import tempfile
from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection

from app.config import Settings
from app.database import create_engine
from app.models import Base

config = context.config
# Only the command line configures logging here; when the app or the tests run
# migrations, their own logging setup must stay as it is.
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def _database_url() -> str:
    """``-x database_url=…`` on the command line, the config's URL, or the settings'."""
    given = context.get_x_argument(as_dictionary=True).get("database_url")
    return given or config.get_main_option("sqlalchemy.url") or Settings().database_url


def _checking() -> bool:
    """``alembic check`` from the command line."""
    cmd = getattr(config.cmd_opts, "cmd", None)
    return cmd is not None and cmd[0].__name__ == "check"


def _migrated_copy(directory: str) -> str:
    """A new SQLite database in ``directory``, built by ``alembic upgrade head``.

    The upgrade runs as its own alembic process: a nested command in this one would tear
    down the environment the check is running in.
    """
    url = f"sqlite+aiosqlite:///{directory}/check.db"
    ini = ["-c", config.config_file_name] if config.config_file_name else []
    command = [
        sys.executable,
        "-m",
        "alembic",
        *ini,
        "-x",
        f"database_url={url}",
        "upgrade",
        "head",
    ]
    # Our own interpreter and alembic, with arguments of our own: no outside input.
    subprocess.run(command, check=True)  # noqa: S603
    return url


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        # SQLite cannot ALTER most things; batch mode rebuilds tables instead.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_online(url: str) -> None:
    settings = Settings(database_url=url)
    engine = create_engine(settings)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_database_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
elif _checking() and _database_url().startswith("sqlite"):
    # Whether the models and the migrations agree does not depend on a local file's state:
    # on SQLite (the default) the check compares the models with a database the migrations
    # have just built. A PostgreSQL database is checked as it is, and must be at head.
    with tempfile.TemporaryDirectory() as directory:
        asyncio.run(_run_online(_migrated_copy(directory)))
else:
    asyncio.run(_run_online(_database_url()))
