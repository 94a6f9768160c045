"""Who made the request, for the access log: "who saw what must be traceable" (DOMAIN.md).

The access log (app.middleware) opens a holder for each request; the places that authenticate a
caller note in it who it is — a user by login (``user:12``), by one of their reading keys
(``user:12:key:7``; from the tiles' cache of logins, ``user:12`` alone), an integration
(``integration:3``) — never a name, a token or a key. Routes run in worker threads with a copy
of the request's context, which refers to the same holder, so what they note reaches the log
line."""
from __future__ import annotations

from contextvars import ContextVar, Token

_holder: ContextVar[dict[str, str] | None] = ContextVar("lagesbild_caller", default=None)


def begin() -> tuple[dict[str, str], Token]:
    """A new holder for this request (and the token to restore the context with)."""
    holder: dict[str, str] = {}
    return holder, _holder.set(holder)


def end(token: Token) -> None:
    _holder.reset(token)


def note(who: str) -> None:
    """Record who the caller is, if a request is being logged (the first one noted stays: a
    reading key's user is loaded after the key itself was noted)."""
    holder = _holder.get()
    if holder is not None:
        holder.setdefault("who", who)
