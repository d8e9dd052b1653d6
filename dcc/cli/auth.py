"""`dcc auth`: demo users and bearer tokens for the API (development mode only)."""

from __future__ import annotations

import typer

auth_app = typer.Typer(help="Authentification (mode développement).", no_args_is_help=True)


@auth_app.command("token")
def token(user: str = typer.Option(..., "--user", help="Identifiant de connexion (ex. coord-a)")) -> None:
    """Print a bearer token for USER (signed with the local key; valid 12 hours)."""
    from dcc.bootstrap import database
    from dcc.config import get_settings
    from dcc.errors import ConfigurationError
    from dcc.web.auth import issue_dev_token, load_user

    settings = get_settings()
    try:
        if load_user(database(), user) is None:
            typer.echo(f"dcc : utilisateur « {user} » inconnu ou désactivé (voir `dcc auth users`).", err=True)
            raise typer.Exit(2)
        typer.echo(issue_dev_token(user, settings=settings))
    except ConfigurationError as exc:
        typer.echo(f"dcc : {exc.message}", err=True)
        raise typer.Exit(2) from None


@auth_app.command("users")
def users() -> None:
    """List the users (login, role, region)."""
    from sqlalchemy import select

    from dcc.adapters.db import models as m
    from dcc.bootstrap import database

    with database().uow() as uow:
        rows = uow.session.execute(
            select(m.AppUser.login, m.AppUser.role, m.Region.code, m.AppUser.active)
            .outerjoin(m.Region, m.Region.id == m.AppUser.region_id).order_by(m.AppUser.login)).all()
    for login, role, region, active in rows:
        typer.echo(f"{login}\t{role}\t{region or '-'}\t{'actif' if active else 'désactivé'}")


@auth_app.command("seed-users")
def seed_users_command() -> None:
    """Create the demo users for the seeded regions (idempotent)."""
    from sqlalchemy import select

    from dcc.adapters.db import models as m
    from dcc.bootstrap import database
    from dcc.services.seed import seed_users

    with database().uow() as uow:
        codes = list(uow.session.scalars(select(m.Region.code).order_by(m.Region.code)).all())
        logins = seed_users(uow, region_codes=codes)
        uow.commit()
    typer.echo("Utilisateurs : " + ", ".join(logins))
