"""`kuroshio serve`: the read-only web view of the archive (`kuroshio.digest.web`), served by uvicorn.

It listens on 127.0.0.1 by default, since the web view has no login of its own: to reach it from other
machines, put it behind a reverse proxy that authenticates (README: Web view). Any other address is
served as asked, with a warning on stderr. `--root-path` is the path prefix the proxy serves it under,
so that its links carry it.

It writes nothing, not even a schema upgrade (every other command upgrades first): a SQLite file that
does not exist yet, or a store whose schema is not this Kuroshio's, is one line and exit 69, as is a
store that cannot be connected to. An address it cannot listen on is one line and exit 1. Once it
listens, one line on stdout says where; SIGINT or SIGTERM stops it.

Settings: `storage.url` (or `$KUROSHIO_DATABASE_URL`), and the configured topics, sources and digests,
which the pages name even before the store holds anything of them.
"""

from __future__ import annotations

import ipaddress
import socket

import click

from kuroshio.scheduler.cli_context import OneLineError, StoreUnavailable, config_from, store_errors_reported
from kuroshio.scheduler.exits import EXIT_FAILED
from kuroshio.storage.engine import masked_url

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
LISTEN_BACKLOG = 128


@click.command("serve")
@click.option("--host", default=DEFAULT_HOST, show_default=True,
              help="Address to listen on. The web view has no login: keep it on loopback behind a proxy that has one.")
@click.option("--port", type=click.IntRange(0, 65535), default=DEFAULT_PORT, show_default=True,
              help="Port to listen on (0: any free port, printed when listening).")
@click.option("--root-path", default="", metavar="PREFIX",
              help="The path prefix a reverse proxy serves it under (e.g. /kuroshio), for its links.")
@click.pass_context
def serve_command(ctx: click.Context, host: str, port: int, root_path: str) -> None:
    """Serve a read-only web view of the archive: topics, search, articles, sources' health, digests."""
    import uvicorn

    from kuroshio.digest.web.app import create_app
    from kuroshio.digest.web.store import missing_sqlite_file, read_only_engine, read_only_sessions, schema_problem

    config = config_from(ctx)
    if (missing := missing_sqlite_file(config.storage_url)) is not None:
        raise StoreUnavailable(f"no store at {missing} yet: crawl first (kuroshio crawl), or check storage.url")
    with store_errors_reported(config):
        engine = read_only_engine(config.storage_url)
        problem = schema_problem(engine)
    if problem is not None:
        raise StoreUnavailable(problem)
    app = create_app(read_only_sessions(engine), topics=config.topic_names, sources=config.source_names,
                     digests=tuple(digest.name for digest in config.digests))
    listener = _listen(host, port)
    address = listener.getsockname()
    if not ipaddress.ip_address(address[0]).is_loopback:
        click.echo(f"kuroshio: listening on {address[0]}, not loopback: whoever reaches this port reads the archive "
                   "(the web view has no login; put a proxy that has one in front of it)", err=True)
    shown_host = f"[{address[0]}]" if ":" in address[0] else address[0]
    prefix = root_path.rstrip("/")
    behind = f", its links under {prefix}/ where the proxy serves it" if prefix else ""
    click.echo(f"Serving {masked_url(config.storage_url)} read-only on http://{shown_host}:{address[1]}/{behind} "
               "(Ctrl-C stops)")
    server = uvicorn.Server(uvicorn.Config(
        app, root_path=prefix, log_config=None, log_level=ctx.obj["log_level"].lower(),
        lifespan="off", server_header=False))
    server.run(sockets=[listener])
    engine.dispose()


def _listen(host: str, port: int) -> socket.socket:
    """A socket listening on `host`:`port`, bound here so that a taken port is one line (`CannotListen`)
    and the address printed is the one bound (`--port 0` picks a free one)."""
    try:
        family, kind, protocol, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                                flags=socket.AI_PASSIVE)[0]
        listener = socket.socket(family, kind, protocol)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(address)
            listener.listen(LISTEN_BACKLOG)
        except OSError:
            listener.close()
            raise
    except OSError as error:
        raise CannotListen(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
    return listener


class CannotListen(OneLineError):
    """The address is taken, not this machine's, or not allowed: one line on stderr, exit 1."""

    exit_code = EXIT_FAILED
