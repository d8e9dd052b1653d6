"""Authentication: OpenID Connect in production, signed local tokens and a demo login page in development.

* `DCC_AUTH_MODE=oidc`: authorization code flow with PKCE (S256) against the provider named by
  `DCC_OIDC_DISCOVERY_URL` (Pro Santé Connect, a hospital Keycloak…) through Authlib's Starlette client. The ID
  token's signature (provider JWKS), issuer, audience and nonce are checked; the userinfo answer is read as
  JSON or, when the provider signs it (`application/jwt`, as Pro Santé Connect does), verified against the same
  JWKS. The professional is matched by the national id claim (`DCC_OIDC_NATIONAL_ID_CLAIM`, RPPS) to the
  directory, then to an active `app_user`.
* `DCC_AUTH_MODE=dev`: `/login` lists the demo users; `dcc auth token --user LOGIN` prints a bearer token
  signed with the local key (`DCC_SESSION_SECRET`, or a key generated in `<var_dir>/session.key`). Refused
  when `DCC_ENV=production`.

The browser session is a signed cookie (Starlette `SessionMiddleware`: HttpOnly, SameSite=Lax, Secure unless
dev mode, 8 hours). API clients send `Authorization: Bearer <token>`. The account behind a login (active, role,
region, establishment) is read from the database and kept by the process for `DCC_AUTH_USER_CACHE_S` seconds
(default 5; `UserCache`): a deactivation or a role change takes effect within that delay, in every process. A
login or a logout through this process drops the entry at once; a logout clears the session, so the cookie no
longer names the user.

Public API: `User`, `current_user`, `optional_user`, `csrf_token`, `verify_csrf`, `auth_router`,
`install_auth`, `issue_dev_token`.
"""

from __future__ import annotations

import hmac
import html
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from starlette.middleware.sessions import SessionMiddleware

from dcc.config import Settings, get_settings
from dcc.errors import ConfigurationError, DccError
from dcc.services import users
from dcc.services.access import ROLE_LABELS, AccessDenied, User
from dcc.services.audit import record_audit
from dcc.services.uow import Database
from dcc.web.routing import to_thread

__all__ = ["User", "current_user", "optional_user", "csrf_token", "verify_csrf", "auth_router", "install_auth",
           "issue_dev_token", "NotAuthenticated", "UserCache"]

log = logging.getLogger("dcc.web.auth")

SESSION_COOKIE = "dcc_session"
SESSION_MAX_AGE = 8 * 3600
TOKEN_SALT = "dcc-api-token"
TOKEN_MAX_AGE = 12 * 3600
CSRF_KEY = "csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


class NotAuthenticated(DccError):
    status_code = 401
    code = "non_authentifie"


# ------------------------------------------------------------------------------------------- the key


def signing_secret(settings: Settings) -> str:
    """`DCC_SESSION_SECRET`, else a random key kept in `<var_dir>/session.key` (created 0600 on first use)."""
    if settings.session_secret:
        return settings.session_secret
    if settings.env == "production":
        raise ConfigurationError("DCC_SESSION_SECRET est obligatoire en production (clé des cookies de session).")
    path = Path(settings.var_dir) / "session.key"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key)
    return key


def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=TOKEN_SALT)


def issue_dev_token(login: str, *, settings: Settings | None = None) -> str:
    """A bearer token for `login`, signed with the local key (dev mode only)."""
    settings = settings or get_settings()
    if settings.auth_mode != "dev" or settings.env == "production":
        raise ConfigurationError("Les jetons locaux n'existent qu'en mode développement (DCC_AUTH_MODE=dev, "
                                 "hors production).")
    return str(_serializer(signing_secret(settings)).dumps({"sub": login}))


# ------------------------------------------------------------------------------------- configuration


class UserCache:
    """Active accounts by login, each kept `ttl_s` seconds from when it was read (0: nothing is kept).

    Reading the account on every request cost a query, a pooled connection and a thread hand-over: more than
    many requests' own work. The price is the delay: an account deactivated, or whose role or scope changes,
    keeps its former rights for at most `ttl_s` seconds in a process that read it just before. Unknown and
    deactivated logins are never kept (a new account works at once). `clock`: monotonic seconds (tests)."""

    def __init__(self, ttl_s: float, *, clock: Callable[[], float] = time.monotonic, max_entries: int = 4096) -> None:
        self.ttl_s = ttl_s
        self.clock = clock
        self.max_entries = max_entries
        self._entries: dict[str, tuple[float, User]] = {}
        self._lock = threading.Lock()

    def get(self, login: str) -> User | None:
        entry = self._entries.get(login)
        if entry is None:
            return None
        if self.clock() >= entry[0]:
            self.drop(login)
            return None
        return entry[1]

    def put(self, user: User) -> None:
        if self.ttl_s <= 0:
            return
        with self._lock:
            if len(self._entries) >= self.max_entries:
                now = self.clock()
                for login, (expires, _) in list(self._entries.items()):
                    if now >= expires:
                        del self._entries[login]
                if len(self._entries) >= self.max_entries:
                    self._entries.clear()
            self._entries[user.login] = (self.clock() + self.ttl_s, user)

    def drop(self, login: str) -> None:
        with self._lock:
            self._entries.pop(login, None)


class VerifiedTokens:
    """Bearer tokens whose signature was checked, with their login and signing time: a client sends the same
    token with every request, and checking its signature (HMAC, base64, JSON) each time cost more than some
    requests' own work. The age limit is still checked on every request; only valid tokens are kept."""

    def __init__(self, secret: str, *, max_age: int = TOKEN_MAX_AGE, max_entries: int = 4096) -> None:
        self.serializer = _serializer(secret)
        self.max_age = max_age
        self.max_entries = max_entries
        self._valid: dict[str, tuple[str | None, float]] = {}

    def login(self, token: str) -> str | None:
        kept = self._valid.get(token)
        if kept is not None and time.time() - kept[1] <= self.max_age:
            return kept[0]
        try:
            payload, signed_at = self.serializer.loads(token, max_age=self.max_age, return_timestamp=True)
        except SignatureExpired:
            self._valid.pop(token, None)
            raise NotAuthenticated("Jeton d'accès expiré : demandez-en un nouveau.") from None
        except BadSignature:
            raise NotAuthenticated("Jeton d'accès invalide.") from None
        login = str(payload.get("sub", "")) if isinstance(payload, dict) else None
        if len(self._valid) >= self.max_entries:
            self._valid.clear()
        self._valid[token] = (login, signed_at.timestamp())
        return login


@dataclass
class AuthState:
    mode: str
    secret: str
    settings: Settings
    oauth_client: Any = None  # authlib StarletteOAuth2App in oidc mode
    users: UserCache = field(default_factory=lambda: UserCache(0))
    tokens: VerifiedTokens = field(init=False)

    def __post_init__(self) -> None:
        self.tokens = VerifiedTokens(self.secret)


def install_auth(app: FastAPI, settings: Settings | None = None, *, user_cache: UserCache | None = None) -> None:
    """Check the configuration, add the session middleware and the login routes. Called by create_app.
    `user_cache`: the accounts kept between requests (default: `DCC_AUTH_USER_CACHE_S` seconds)."""
    settings = settings or get_settings()
    if settings.auth_mode == "dev" and settings.env == "production":
        raise ConfigurationError("Le mode d'authentification « dev » est interdit en production : "
                                 "configurez DCC_AUTH_MODE=oidc.")
    secret = signing_secret(settings)
    state = AuthState(mode=settings.auth_mode, secret=secret, settings=settings,
                      users=user_cache if user_cache is not None else UserCache(settings.auth_user_cache_s))
    if settings.auth_mode == "oidc":
        if not (settings.oidc_discovery_url and settings.oidc_client_id):
            raise ConfigurationError("Le mode OIDC demande DCC_OIDC_DISCOVERY_URL et DCC_OIDC_CLIENT_ID.")
        from authlib.integrations.starlette_client import OAuth

        oauth = OAuth()
        oauth.register("oidc", server_metadata_url=settings.oidc_discovery_url,
                       client_id=settings.oidc_client_id, client_secret=settings.oidc_client_secret or None,
                       client_kwargs={"scope": settings.oidc_scope, "code_challenge_method": "S256"})
        state.oauth_client = oauth.create_client("oidc")
    app.state.auth = state
    app.add_middleware(SessionMiddleware, secret_key=secret, session_cookie=SESSION_COOKIE,
                       max_age=SESSION_MAX_AGE, same_site="lax", https_only=settings.auth_mode != "dev")
    app.include_router(auth_router)


def _state(request: Request) -> AuthState:
    state: AuthState | None = getattr(request.app.state, "auth", None)
    if state is None:
        raise ConfigurationError("Authentification non configurée (install_auth non appelé).")
    return state


def _session(request: Request) -> dict[str, Any]:
    session: dict[str, Any] | None = request.scope.get("session")
    if session is None:
        raise ConfigurationError("Session non disponible (SessionMiddleware absent).")
    return session


# ------------------------------------------------------------------------------------------ the user


def load_user(database: Database, login: str) -> User | None:
    """The active account `login` (None when unknown or deactivated), read from the database."""
    with database.uow() as uow:
        return users.active_user(uow, login)


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def _login_of(request: Request, state: AuthState) -> tuple[str | None, bool]:
    """The login the request names (bearer token or session cookie) and whether a token named it; a bad token
    is an error. No I/O."""
    token = _bearer(request)
    if token is not None:
        if state.mode != "dev":
            raise NotAuthenticated("Jeton d'accès refusé : connectez-vous par le fournisseur d'identité.")
        return state.tokens.login(token), True
    session = request.scope.get("session")
    return (session.get("user") if session else None), False


def cached_user(request: Request) -> User | None:
    """The request's user when no database read is needed (already identified, or kept by `UserCache`); None
    otherwise (anonymous, or to be read: `optional_user`). A bad token is an error. No I/O: for the event loop."""
    user: User | None = request.scope.get("dcc.user")
    if user is not None:
        return user
    state = _state(request)
    login, _ = _login_of(request, state)
    user = state.users.get(login) if login else None
    if user is not None:
        request.scope["dcc.user"] = user
    return user


def optional_user(request: Request) -> User | None:
    """The user of a bearer token or of the session cookie; None when anonymous. A bad token is an error."""
    cached = request.scope.get("dcc.user")
    if cached is not None:
        return cached
    state = _state(request)
    login, by_token = _login_of(request, state)
    if not login:
        return None
    user = state.users.get(login)
    if user is None:
        user = load_user(request.app.state.database, login)
        if user is None:
            if by_token:
                raise NotAuthenticated("Compte inconnu ou désactivé.")
            _session(request).pop("user", None)
            return None
        state.users.put(user)
    request.scope["dcc.user"] = user
    return user


NOT_AUTHENTICATED = ("Authentification requise : connectez-vous (/login) ou fournissez un jeton "
                     "(en-tête Authorization: Bearer).")


async def current_user(request: Request) -> User:
    """The authenticated user; 401 (French JSON) when there is none. On the event loop when the user is kept
    (`UserCache`), else read in the thread pool."""
    user = cached_user(request) or await to_thread(optional_user, request)
    if user is None:
        raise NotAuthenticated(NOT_AUTHENTICATED)
    return user


# -------------------------------------------------------------------------------------------- CSRF


def csrf_token(request: Request) -> str:
    """The session's CSRF token (created on first use), for a hidden `csrf_token` field or `X-CSRF-Token`."""
    session = _session(request)
    token = session.get(CSRF_KEY)
    if not token:
        token = secrets.token_urlsafe(32)
        session[CSRF_KEY] = token
    return str(token)


def verify_csrf(request: Request, token: str | None) -> None:
    """Refuse (403) a form post whose token does not match the session's, or that comes from another site."""
    if request.headers.get("sec-fetch-site", "") == "cross-site":
        raise AccessDenied("Requête refusée : elle provient d'un autre site.")
    origin = request.headers.get("origin")
    if origin and origin != "null":
        expected = f"{request.url.scheme}://{request.url.netloc}"
        if origin != expected:
            raise AccessDenied("Requête refusée : origine inattendue.")
    expected_token = (request.scope.get("session") or {}).get(CSRF_KEY)
    token = token or request.headers.get(CSRF_HEADER)
    if not expected_token or not token or not hmac.compare_digest(str(expected_token), str(token)):
        raise AccessDenied("Jeton CSRF invalide ou expiré : rechargez la page et recommencez.")


# ------------------------------------------------------------------------------------------- routes

auth_router = APIRouter(tags=["Authentification"], include_in_schema=False)


def _safe_next(value: str | None) -> str:
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


def _audit_login(request: Request, *, login: str, ok: bool, detail: dict[str, Any]) -> None:
    db: Database = request.app.state.database
    client = request.client.host if request.client else ""
    with db.uow() as uow:
        record_audit(uow, actor=login if ok else "anonymous", action="auth.login" if ok else "auth.login_refused",
                     entity="app_user", entity_id=login, detail={**detail, "ip": client})
        uow.commit()


def _page(title: str, body: str, status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(f"""<!doctype html>
<html lang="fr">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>{html.escape(title)} — dcc</title>
  </head>
  <body>
    <main>
      <h1>{html.escape(title)}</h1>
{body}
    </main>
  </body>
</html>
""", status_code=status_code)


def _demo_users(database: Database) -> list[users.UserListing]:
    with database.uow() as uow:
        return users.active_users(uow)


@auth_router.get("/login", response_class=HTMLResponse)
async def login(request: Request, next: str | None = None) -> Response:  # noqa: A002
    state = _state(request)
    target = _safe_next(next)
    if state.mode == "oidc":
        _session(request)["next"] = target
        redirect_uri = str(request.url_for("auth_callback"))
        response: Response = await state.oauth_client.authorize_redirect(request, redirect_uri)
        return response
    token = html.escape(csrf_token(request))
    listing = _demo_users(request.app.state.database)
    if not listing:
        items = "      <p>Aucun utilisateur : lancez <code>make demo</code> (ou <code>dcc demo</code>).</p>"
    else:
        rows = []
        for entry in listing:
            login_, name, role, region = entry.login, entry.display_name, entry.role, entry.region_code
            label = f"{name} — {ROLE_LABELS.get(role, role)}" + (f", région {region}" if region else "")
            rows.append(f"""        <li>
          <form method="post" action="/login/dev">
            <input type="hidden" name="{CSRF_FIELD}" value="{token}">
            <input type="hidden" name="login" value="{html.escape(login_)}">
            <input type="hidden" name="next" value="{html.escape(target)}">
            <button type="submit">Se connecter en tant que {html.escape(login_)}</button>
            <span>{html.escape(label)}</span>
          </form>
        </li>""")
        items = "      <ul>\n" + "\n".join(rows) + "\n      </ul>"
    body = ("      <p>Mode développement : choisissez un utilisateur de démonstration. "
            "Ce mode est refusé en production.</p>\n" + items)
    return _page("Connexion", body)


@auth_router.post("/login/dev")
async def login_dev(request: Request) -> Response:
    state = _state(request)
    if state.mode != "dev":
        return _page("Page introuvable", "      <p>Cette page n'existe pas.</p>", status_code=404)
    form = await request.form()
    verify_csrf(request, str(form.get(CSRF_FIELD) or ""))
    login_ = str(form.get("login") or "")
    user = load_user(request.app.state.database, login_)
    if user is None:
        _audit_login(request, login=login_[:100], ok=False, detail={"mode": "dev", "reason": "compte inconnu"})
        return _page("Connexion refusée", "      <p>Compte inconnu ou désactivé.</p>\n"
                     '      <p><a href="/login">Revenir à la connexion</a></p>', status_code=403)
    _audit_login(request, login=user.login, ok=True, detail={"mode": "dev", "role": user.role})
    state.users.drop(user.login)  # a new login reads the account afresh
    session = _session(request)
    session.clear()
    session["user"] = user.login
    return RedirectResponse(_safe_next(str(form.get("next") or "")), status_code=303)


async def _userinfo(client: Any, token: dict[str, Any]) -> dict[str, Any]:
    """The userinfo claims: JSON, or a signed JWT verified against the provider's JWKS."""
    from joserfc import jwt
    from joserfc.jwk import KeySet

    metadata = await client.load_server_metadata()
    endpoint = metadata.get("userinfo_endpoint")
    if not endpoint:
        return {}
    resp = await client.get(endpoint, token=token)
    resp.raise_for_status()
    if resp.headers.get("content-type", "").split(";")[0].strip() == "application/jwt":
        keys = KeySet.import_key_set(await client.fetch_jwk_set())
        algs = metadata.get("userinfo_signing_alg_values_supported") or ["RS256", "ES256"]
        decoded = jwt.decode(resp.text.strip(), keys, algorithms=algs)
        claims = dict(decoded.claims)
        if metadata.get("issuer") and claims.get("iss") not in (None, metadata["issuer"]):
            raise ValueError("userinfo: unexpected issuer")
        return claims
    data: dict[str, Any] = resp.json()
    return data


def _refused(request: Request, message: str, *, claims_sub: str = "", reason: str = "") -> HTMLResponse:
    _audit_login(request, login=claims_sub[:100] or "inconnu", ok=False, detail={"mode": "oidc", "reason": reason})
    return _page("Connexion refusée", f"      <p>{html.escape(message)}</p>\n"
                 '      <p><a href="/login">Réessayer</a></p>', status_code=403)


@auth_router.get("/auth/callback", name="auth_callback")
async def auth_callback(request: Request) -> Response:
    state = _state(request)
    if state.mode != "oidc":
        return _page("Page introuvable", "      <p>Cette page n'existe pas.</p>", status_code=404)
    if request.query_params.get("error"):
        return _refused(request, "Le fournisseur d'identité a refusé la connexion.",
                        reason=str(request.query_params.get("error"))[:100])
    client = state.oauth_client
    try:
        token = await client.authorize_access_token(request)
    except Exception as exc:  # state mismatch, bad code, bad ID token signature/claims…
        log.warning("oidc callback refused: %s", exc)
        return _refused(request, "La réponse du fournisseur d'identité est invalide.", reason=type(exc).__name__)
    id_claims = token.get("userinfo")
    if not id_claims:
        return _refused(request, "Le fournisseur n'a pas renvoyé de jeton d'identité.", reason="no id_token")
    try:
        info = await _userinfo(client, token)
    except Exception as exc:
        log.warning("oidc userinfo refused: %s", exc)
        return _refused(request, "Les informations d'identité sont invalides.", claims_sub=str(id_claims.get("sub")),
                        reason=type(exc).__name__)
    if info and info.get("sub") != id_claims.get("sub"):
        return _refused(request, "Les informations d'identité ne correspondent pas au jeton.",
                        claims_sub=str(id_claims.get("sub")), reason="sub mismatch")
    claims = {**dict(id_claims), **info}
    claim = state.settings.oidc_national_id_claim
    national_id = str(claims.get(claim) or "").strip()
    if len(national_id) == 12 and national_id[0] in "08":
        national_id = national_id[1:]  # PSC SubjectNameID: type prefix (8 = RPPS) + RPPS
    with request.app.state.database.uow() as uow:
        found = users.login_of_professional(uow, national_id)
    if not national_id or found is None:
        return _refused(request, "Aucun compte dcc actif n'est associé à votre identité professionnelle.",
                        claims_sub=str(claims.get("sub", "")), reason=f"no account for {claim}")
    _audit_login(request, login=found, ok=True, detail={"mode": "oidc", "sub": str(claims.get("sub", ""))})
    state.users.drop(found)  # a new login reads the account afresh
    session = _session(request)
    target = _safe_next(session.get("next"))
    session.clear()
    session["user"] = found
    return RedirectResponse(target, status_code=303)


@auth_router.post("/logout")
async def logout(request: Request) -> Response:
    form = await request.form() if "form" in request.headers.get("content-type", "") else {}
    verify_csrf(request, str(form.get(CSRF_FIELD) or "") or None)
    session = _session(request)
    login_ = session.get("user")
    session.clear()
    if login_:
        _state(request).users.drop(str(login_))
        db: Database = request.app.state.database
        with db.uow() as uow:
            record_audit(uow, actor=str(login_), action="auth.logout", entity="app_user", entity_id=str(login_))
            uow.commit()
    return RedirectResponse("/login?" + urlencode({"deconnecte": "1"}), status_code=303)
