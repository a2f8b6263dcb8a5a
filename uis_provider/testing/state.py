"""Account state of the emulator: API keys, login sessions and the per-minute / per-day point budgets."""

from __future__ import annotations

import math
import secrets
import threading
from dataclasses import dataclass

from uis_provider.testing.clock import EmulatorClock
from uis_provider.testing.errors import APIError

KEY_STATUSES = ("valid", "expired", "blocked")


@dataclass
class _Session:
    expires: float
    uses: int = 0


class Accounts:
    """Tokens the emulator accepts: cabinet API keys (valid/expired/blocked) and ``login.user`` sessions."""

    def __init__(
        self,
        clock: EmulatorClock,
        *,
        api_keys: dict[str, str],
        users: dict[str, str],
        session_ttl: float,
        app_id: int,
    ) -> None:
        for status in api_keys.values():
            if status not in KEY_STATUSES:
                raise ValueError(f"API key status must be one of {', '.join(KEY_STATUSES)}")
        self._clock = clock
        self._api_keys = dict(api_keys)
        self._users = dict(users)
        self._sessions: dict[str, _Session] = {}
        self.issued_tokens: list[str] = []
        self.token_log: str | None = None
        self._lock = threading.Lock()
        self.session_ttl = session_ttl
        self.app_id = app_id
        self.uses_per_session: int | None = None

    def __repr__(self) -> str:
        return f"Accounts(api_keys={len(self._api_keys)}, users={len(self._users)}, sessions={len(self._sessions)})"

    def login(self, login: str, password: str) -> dict[str, object]:
        """Open a session for valid credentials (``auth_error`` otherwise)."""
        expected = self._users.get(login)
        if expected is None or not secrets.compare_digest(expected.encode(), password.encode()):
            raise APIError("auth_error")
        token = secrets.token_hex(20)
        expires = self._clock.time() + self.session_ttl
        with self._lock:
            self._sessions[token] = _Session(expires=expires)
            self.issued_tokens.append(token)
            if self.token_log:
                with open(self.token_log, "a", encoding="utf-8") as handle:
                    handle.write(token + "\n")
        return {"access_token": token, "expire_at": int(expires), "app_id": self.app_id}

    def logout(self, token: str) -> None:
        """End a session (an API key stays valid)."""
        self.authenticate(token, count=False)
        with self._lock:
            self._sessions.pop(token, None)

    def authenticate(self, token: str, *, count: bool = True) -> None:
        """Accept ``token`` or raise the API's auth error; a session call counts towards its use limit."""
        status = self._api_keys.get(token)
        if status is not None:
            if status != "valid":
                raise APIError(f"access_token_{status}")
            return
        with self._lock:
            session = self._sessions.get(token)
            if session is None:
                raise APIError("access_token_invalid")
            used_up = self.uses_per_session is not None and session.uses >= self.uses_per_session
            if self._clock.time() >= session.expires or used_up:
                del self._sessions[token]
                raise APIError("access_token_invalid")
            if count:
                session.uses += 1

    def expire_sessions(self) -> None:
        """End every open session now (their tokens answer ``access_token_invalid``)."""
        with self._lock:
            self._sessions.clear()

    @property
    def open_sessions(self) -> int:
        """Number of sessions not yet ended or expired on the emulator clock."""
        now = self._clock.time()
        with self._lock:
            return sum(1 for session in self._sessions.values() if session.expires > now)


class Budget:
    """Point budgets per minute and per day on fixed windows that open with the first charged call."""

    def __init__(
        self,
        clock: EmulatorClock,
        *,
        minute_limit: int,
        day_limit: int,
        minute_window: float,
        day_window: float = 86_400.0,
    ) -> None:
        self._clock = clock
        self.minute_limit = minute_limit
        self.day_limit = day_limit
        self.minute_window = minute_window
        self.day_window = day_window
        self._lock = threading.Lock()
        self._minute_used = 0
        self._day_used = 0
        self._minute_start: float | None = None
        self._day_start: float | None = None

    def _roll(self, now: float) -> None:
        if self._minute_start is not None and now >= self._minute_start + self.minute_window:
            self._minute_start, self._minute_used = None, 0
        if self._day_start is not None and now >= self._day_start + self.day_window:
            self._day_start, self._day_used = None, 0

    def exceeded(self, points: int) -> str | None:
        """``"day"`` or ``"minute"`` if charging ``points`` now would go over that budget, else None."""
        with self._lock:
            self._roll(self._clock.time())
            if self._day_used + points > self.day_limit:
                return "day"
            if self._minute_used + points > self.minute_limit:
                return "minute"
            return None

    def charge(self, points: int) -> None:
        """Spend ``points`` from both budgets."""
        if points <= 0:
            return
        with self._lock:
            now = self._clock.time()
            self._roll(now)
            if self._minute_start is None:
                self._minute_start = now
            if self._day_start is None:
                self._day_start = now
            self._minute_used += points
            self._day_used += points

    def limits(self, exhausted: str | None = None) -> dict[str, int]:
        """``metadata.limits`` as the API reports it; ``exhausted`` forces that budget to 0 (fault injection)."""
        with self._lock:
            now = self._clock.time()
            self._roll(now)
            minute_reset = _reset(self._minute_start, self.minute_window, now)
            day_reset = _reset(self._day_start, self.day_window, now)
            limits = {
                "day_limit": self.day_limit,
                "day_remaining": max(0, self.day_limit - self._day_used),
                "day_reset": day_reset,
                "minute_limit": self.minute_limit,
                "minute_remaining": max(0, self.minute_limit - self._minute_used),
                "minute_reset": minute_reset,
            }
        if exhausted in ("minute", "day"):
            limits[f"{exhausted}_remaining"] = 0
            window = self.minute_window if exhausted == "minute" else self.day_window
            limits[f"{exhausted}_reset"] = max(1, limits[f"{exhausted}_reset"] or math.ceil(window))
        return limits


def _reset(start: float | None, window: float, now: float) -> int:
    if start is None:
        return 0
    return max(0, math.ceil(start + window - now))
