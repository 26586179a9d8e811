"""Resumable, verified downloads: HTTP Range on a ``.part`` file, capped at the manifest's size,
sha256 checked before use."""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

from training.atomic import fsync_dir, fsync_file

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


CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


def _range_error(response: http.client.HTTPResponse, have: int, size: int) -> str | None:
    """Why a 206 answer does not continue ``have`` bytes of a ``size``-byte file, or None."""
    found = CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", "").strip())
    if found is None:
        return "a partial (206) answer without a valid Content-Range"
    start, end, total = found.groups()
    if int(start) != have or int(end) >= size or total not in ("*", str(size)):
        return f"Content-Range {found.group(0)} does not continue {have:,} of {size:,} bytes"
    return None


def _receive(
    response: http.client.HTTPResponse, part: Path, have: int, size: int, *, progress: bool
) -> None:
    """Append the answer to ``part`` (or start it over at ``have`` = 0), never past ``size``."""
    length = response.headers.get("Content-Length", "")
    announced = have + int(length) if length.isdigit() else None
    if announced is not None and announced > size:
        raise FetchError(f"the server announces {announced:,} bytes, the manifest lists {size:,}")
    with (
        part.open("ab" if have else "wb") as out,
        tqdm(
            total=size,
            initial=have,
            unit="B",
            unit_scale=True,
            desc=part.name.removesuffix(".part"),
            disable=not progress,
            leave=False,
        ) as bar,
    ):
        while block := response.read(min(CHUNK, size - have + 1)):
            have += len(block)
            if have > size:
                raise FetchError(f"the server sent more than the {size:,} bytes the manifest lists")
            out.write(block)
            bar.update(len(block))
    if announced is not None and have < announced:
        # http.client may end a short body quietly instead of raising IncompleteRead
        raise ConnectionError(f"connection closed at byte {have:,}")


def download(url: str, target: Path, sha256: str, size: int, *, progress: bool = True) -> str:
    """Fetch ``url`` (``size`` bytes) to ``target`` unless it is there and verified; returns
    what was done.

    Bytes arrive in ``target.part``; after an interruption the next call asks only for the
    rest (HTTP Range), and uses the answer only if its Content-Range continues the partial
    file: a server that ignores Range (200) starts it over, a wrong range discards it. The
    download stops at ``size`` bytes (the manifest's), so a server cannot fill the disk; the
    file is renamed into place only when its sha256 matches, and a file already at ``target``
    is used only if it does.
    """
    if target.is_file() and sha256_file(target) == sha256:
        return "verified"
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    have = part.stat().st_size if part.is_file() else 0
    if have > size:  # not a prefix of this file
        part.unlink()
        have = 0
    resumed = False
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            resumed = response.status == 206
            if resumed and (why := _range_error(response, have, size)):
                part.unlink()
                raise FetchError(f"{why}; the partial file was removed, run the command again")
            if not resumed:
                have = 0  # the server ignored the Range header: start over
            _receive(response, part, have, size, progress=progress)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have == size:  # the .part already holds the whole file
            resumed = True
        else:
            raise FetchError(
                f"{url}: HTTP {exc.code} {exc.reason}. {_by_hand(url, target, sha256)}"
            ) from None
    except FetchError as exc:
        part.unlink(missing_ok=True)
        raise FetchError(f"{url}: refused: {exc}. {_by_hand(url, target, sha256)}") from None
    except (http.client.IncompleteRead, ConnectionError, TimeoutError) as exc:
        size_now = part.stat().st_size if part.is_file() else 0
        raise FetchError(
            f"{url}: download interrupted after {size_now:,} bytes ({exc!r}); run the command "
            f"again to resume from {part}. {_by_hand(url, target, sha256)}"
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise FetchError(
            f"{url}: cannot download ({reason}); are you offline? {_by_hand(url, target, sha256)}"
        ) from None
    got = sha256_file(part)
    if got != sha256:
        size_now = part.stat().st_size
        part.unlink()
        raise FetchError(
            f"{url}: sha256 mismatch, refusing the file: expected {sha256}, got {got} "
            f"({size_now:,} bytes). The source changed or the download is corrupt; the partial "
            "file was removed."
        )
    fsync_file(part)
    os.replace(part, target)
    fsync_dir(target.parent)
    return "resumed" if resumed else "downloaded"
