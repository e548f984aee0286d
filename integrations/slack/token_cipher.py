"""Bot tokens encrypted at rest: Fernet keys from CI_SLACKBOT_TOKEN_KEY, the first encrypting, all decrypting.

Listing a new key first and the old one after it rotates without downtime: tokens sealed with the
old key are still read, and each is sealed again with the new key the first time it is read. A
token stored before any key was set is plain text (Slack's tokens start with `xox`): it keeps
working, and is sealed the first time it is read once a key is set.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from ci_slackbot.settings import MissingSettingError

# Every Fernet token starts with its version byte 0x80, base64url-encoded; no Slack token does.
_SEALED_PREFIX = "gAAAAA"


class TokenKeyError(RuntimeError):
    """A stored token none of CI_SLACKBOT_TOKEN_KEY's keys opens."""


class TokenCipher:
    def __init__(self, keys: str) -> None:
        names = [key.strip() for key in keys.split(",") if key.strip()]
        try:
            fernets = [Fernet(key.encode()) for key in names]
        except (ValueError, TypeError) as exc:
            raise MissingSettingError(
                "CI_SLACKBOT_TOKEN_KEY must be Fernet keys, comma-separated (make one with "
                '`python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"`)'
            ) from exc
        if not fernets:
            raise MissingSettingError("CI_SLACKBOT_TOKEN_KEY is set but holds no key")
        self._primary = fernets[0]
        self._all = MultiFernet(fernets)

    @staticmethod
    def is_sealed(value: str) -> bool:
        return value.startswith(_SEALED_PREFIX)

    def seal(self, value: str | None) -> str | None:
        """The token encrypted with the first key; one already sealed is left as it is."""
        if not value or self.is_sealed(value):
            return value
        return self._primary.encrypt(value.encode()).decode()

    def open(self, value: str | None) -> str | None:
        """The plain token; a plain one (stored before a key was set) as it is."""
        if not value or not self.is_sealed(value):
            return value
        try:
            return self._all.decrypt(value.encode()).decode()
        except InvalidToken as exc:
            raise TokenKeyError(
                "a stored Slack token cannot be decrypted with CI_SLACKBOT_TOKEN_KEY: keep the key it was "
                "sealed with in the list (after the new one) until every token is sealed again"
            ) from exc

    def stale(self, value: str | None) -> bool:
        """Whether the token should be sealed again with the first key: plain, or sealed with an older key."""
        if not value:
            return False
        if not self.is_sealed(value):
            return True
        try:
            self._primary.decrypt(value.encode())
        except InvalidToken:
            return True
        return False
