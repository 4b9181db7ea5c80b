"""Where the refresh-token flow keeps the newest refresh token: the protocol the client uses.

With refresh-token rotation on (a connected-app setting), every refresh answer carries a new refresh
token and the one just used stops working at once; using it again revokes the whole chain ("Refresh
token rotation ensures that each refresh token is used only one time per user": Salesforce Help, "OAuth
2.0 Refresh Token Flow for Renewed Sessions",
https://help.salesforce.com/s/articleView?id=remoteaccess_oauth_refresh_token_flow.htm). A client that
keeps using the token from its configuration works for one run only. So the client asks a
:class:`RefreshTokenStore` for the newest token before each refresh and gives it the one each answer
carries, under the store's lock, so that two refreshes with one token never run at once (Salesforce
refuses the second: "token request is already being processed").

The store lives above this package (``sfsync.state.tokens`` keeps it in the state directory); the layer
that builds clients passes it in (``sfsync.sync.connect``). A store is keyed by the refresh token the
user configured (the *origin*): when the user puts a new token in the project (after the old chain was
revoked), the stored chain of the previous one is ignored and replaced.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol


class RefreshTokenStore(Protocol):
    """The newest refresh token of one destination. Implementations never log or show a token."""

    def load(self, origin: str) -> str | None:
        """The newest token of the chain that began with the configured token ``origin``; None when the
        store holds none for it (first run, or the user configured a new token)."""

    def save(self, origin: str, token: str) -> None:
        """Remember ``token`` as the newest of ``origin``'s chain (durably, readable by the owner only)."""

    def locked(self) -> AbstractContextManager[None]:
        """Exclusive use of the token, across the threads and processes sharing the store."""


__all__ = ["RefreshTokenStore"]
