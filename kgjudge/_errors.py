"""The one exception tree of kgjudge.

Every error a user can cause or meet derives from :class:`KGJudgeError`, so callers can catch
the family; subclasses carry the context needed to act on them (file and line, key, raw text).
"""

from __future__ import annotations

from collections.abc import Iterable

from kgjudge._text import redact_urls


class KGJudgeError(Exception):
    """Base class of every error raised by kgjudge. Its text never shows the credentials of a
    URL (``http://user:secret@host`` reads ``http://***@host``)."""

    def __str__(self) -> str:
        return redact_urls(super().__str__())


class ConfigError(KGJudgeError):
    """A configuration is invalid.

    Attributes:
        file: the config file, when the config came from one.
        key: dotted path of the offending key (``backends.default.type``).
        choices: the valid alternatives, when there is a closed set.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        key: str | None = None,
        choices: Iterable[str] | None = None,
    ) -> None:
        self.file = file
        self.key = key
        self.message = message
        self.choices = sorted(choices) if choices is not None else None
        parts = []
        if file:
            parts.append(str(file))
        if key:
            parts.append(f"key '{key}'")
        prefix = ": ".join(parts)
        text = f"{prefix}: {message}" if prefix else message
        if self.choices is not None:
            text += f" (valid choices: {', '.join(self.choices) or 'none registered'})"
        super().__init__(text)

    def within(self, *, file: str | None, key: str) -> ConfigError:
        """This error as raised by the component under ``key`` of ``file``: a key relative to
        the component (``api_key``) becomes the full key (``backends.default.api_key``)."""
        full = f"{key}.{self.key}" if self.key and key and not self.key.startswith(f"{key}.") else (self.key or key)
        return ConfigError(self.message, file=self.file or file, key=full, choices=self.choices)


class MissingExtraError(ConfigError, ImportError):
    """An optional dependency is not installed; the message names the extra that provides it."""

    def __init__(self, module: str, extra: str, hint: str | None = None) -> None:
        self.module = module
        self.extra = extra
        message = (
            f"the optional dependency '{module}' is not installed; "
            f"install it with: pip install 'kgjudge[{extra}]'"
        )
        if hint:
            message += f" ({hint})"
        super().__init__(message)


class InputError(KGJudgeError):
    """Bad input data. Names the file and, for line-based formats, the 1-based line."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None) -> None:
        self.file = str(file) if file is not None else None
        self.line = line
        self.reason = message
        where = ""
        if self.file is not None:
            where = self.file if line is None else f"{self.file}:{line}"
        super().__init__(f"{where}: {message}" if where else message)


class BackendError(KGJudgeError):
    """A model backend failed.

    Attributes:
        retryable: True when the same request may succeed later (timeouts, 429, 5xx).
        backend: the backend's registered name.
    """

    def __init__(self, message: str, *, retryable: bool = False, backend: str | None = None) -> None:
        self.retryable = retryable
        self.backend = backend
        prefix = f"[{backend}] " if backend else ""
        super().__init__(f"{prefix}{message}")


class ParseError(KGJudgeError):
    """A model reply could not be parsed. The raw reply is kept in :attr:`raw`."""

    def __init__(self, message: str, *, raw: str) -> None:
        self.raw = raw
        preview = raw if len(raw) <= 200 else raw[:200] + "..."
        super().__init__(f"{message}; raw reply: {preview!r}")


class StoreError(KGJudgeError):
    """A graph store operation failed."""


class FolderBusyError(KGJudgeError):
    """Another process holds an output folder's lock.

    Attributes:
        folder: the output folder.
        pid: the holder's process id (None when it could not be read).
        command: the holder's command line, as it recorded it.
    """

    def __init__(self, message: str, *, folder: str, pid: int | None = None, command: str | None = None) -> None:
        self.folder = folder
        self.pid = pid
        self.command = command
        super().__init__(message)


class KGJudgeWarning(UserWarning):
    """A warning of kgjudge's own (an unreadable cache file ignored, say): the command line shows
    these, one line each, while it silences the warnings of the libraries underneath."""
