"""Resumable, verified downloads: HTTP Range on a ``.part`` file, sha256 checked before use."""

from __future__ import annotations

import hashlib
import http.client
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

CHUNK = 64 * 1024
TIMEOUT_S = 30.0


class FetchError(RuntimeError):
    """A download or check failed; the message says what to do about it."""


def sha256_file(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(CHUNK), b""):
            sha.update(block)
    return sha.hexdigest()


def _by_hand(url: str, target: Path, sha256: str) -> str:
    return (
        f"To add it by hand, download {url} on a machine that is online and put it at "
        f"{target} (its sha256 must be {sha256}), then run the command again."
    )


def download(url: str, target: Path, sha256: str, *, progress: bool = True) -> str:
    """Fetch ``url`` to ``target`` unless it is there and verified; returns what was done.

    Bytes arrive in ``target.part``; after an interruption the next call asks only for the
    rest (HTTP Range). The file is renamed into place only when its sha256 matches.
    """
    if target.is_file() and sha256_file(target) == sha256:
        return "verified"
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    have = part.stat().st_size if part.is_file() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            resumed = response.status == 206
            if not resumed:
                have = 0  # the server ignored the Range header: start over
            length = response.headers.get("Content-Length")
            total = have + int(length) if length else None
            with (
                part.open("ab" if resumed else "wb") as out,
                tqdm(
                    total=total,
                    initial=have,
                    unit="B",
                    unit_scale=True,
                    desc=target.name,
                    disable=not progress,
                    leave=False,
                ) as bar,
            ):
                for block in iter(lambda: response.read(CHUNK), b""):
                    out.write(block)
                    bar.update(len(block))
            if total is not None and part.stat().st_size < total:
                # http.client may end a short body quietly instead of raising IncompleteRead
                raise ConnectionError(f"connection closed at byte {part.stat().st_size:,}")
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # the .part already holds the whole file
            resumed = True
        else:
            raise FetchError(
                f"{url}: HTTP {exc.code} {exc.reason}. {_by_hand(url, target, sha256)}"
            ) from None
    except (http.client.IncompleteRead, ConnectionError, TimeoutError) as exc:
        size = part.stat().st_size if part.is_file() else 0
        raise FetchError(
            f"{url}: download interrupted after {size:,} bytes ({exc!r}); run the command "
            f"again to resume from {part}. {_by_hand(url, target, sha256)}"
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise FetchError(
            f"{url}: cannot download ({reason}); are you offline? {_by_hand(url, target, sha256)}"
        ) from None
    got = sha256_file(part)
    if got != sha256:
        size = part.stat().st_size
        part.unlink()
        raise FetchError(
            f"{url}: sha256 mismatch, refusing the file: expected {sha256}, got {got} "
            f"({size:,} bytes). The source changed or the download is corrupt; the partial file "
            "was removed."
        )
    part.replace(target)
    return "resumed" if resumed else "downloaded"
