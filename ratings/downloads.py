"""Fetches a MovieLens release zip from GroupLens (or MOVIELENS_DOWNLOAD_URL) for the user."""

from __future__ import annotations

import hashlib
import os
import zipfile
from collections.abc import Callable
from pathlib import Path

import requests
from django.conf import settings

# Release name -> zip file name on GroupLens. 100K and 1M may not be redistributed: never commit.
RELEASES = {
    "ml-latest-small": "ml-latest-small.zip",
    "ml-latest": "ml-latest.zip",
    "ml-100k": "ml-100k.zip",
    "ml-1m": "ml-1m.zip",
    "ml-10m": "ml-10m.zip",
    "ml-20m": "ml-20m.zip",
    "ml-25m": "ml-25m.zip",
    "ml-32m": "ml-32m.zip",
}
CHUNK = 1 << 20


class DownloadError(RuntimeError):
    """The release could not be fetched or is not a valid zip."""


def movielens_download(
    name: str,
    target_dir: Path,
    *,
    progress: Callable[[int], None] | None = None,
    total_bytes: Callable[[int], None] | None = None,
    timeout: float = 30.0,
) -> Path:
    """Download `name` into target_dir (reused if already there and valid); return the zip."""
    if name not in RELEASES:
        raise DownloadError(f"Unknown MovieLens release {name!r}; one of {', '.join(RELEASES)}.")
    base = settings.MOVIELENS_DOWNLOAD_URL.rstrip("/") + "/"
    url = base + RELEASES[name]
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / RELEASES[name]
    if target.exists() and zipfile.is_zipfile(target):
        return target

    partial = target.with_suffix(".zip.part")
    digest = hashlib.md5(usedforsecurity=False)
    try:
        with requests.get(url, stream=True, timeout=timeout) as response:
            if response.status_code != 200:
                raise DownloadError(f"GET {url} answered HTTP {response.status_code}.")
            if total_bytes is not None and response.headers.get("Content-Length"):
                total_bytes(int(response.headers["Content-Length"]))
            with open(partial, "wb") as handle:
                for chunk in response.iter_content(CHUNK):
                    handle.write(chunk)
                    digest.update(chunk)
                    if progress is not None:
                        progress(len(chunk))
        expected = _published_md5(url, timeout)
        if expected and expected != digest.hexdigest():
            raise DownloadError(f"{url}: MD5 {digest.hexdigest()} does not match {expected}.")
        if not zipfile.is_zipfile(partial):
            raise DownloadError(f"{url} did not return a zip file.")
        os.replace(partial, target)
    except requests.RequestException as exc:
        raise DownloadError(f"Could not download {url}: {exc}") from exc
    finally:
        partial.unlink(missing_ok=True)
    return target


def _published_md5(url: str, timeout: float) -> str | None:
    """GroupLens publishes <zip>.md5 beside some releases; absent means unchecked."""
    try:
        response = requests.get(url + ".md5", timeout=timeout)
    except requests.RequestException:
        return None
    if response.status_code != 200:
        return None
    words = response.text.split()
    token = next((w for w in words if len(w) == 32), None)
    return token.lower() if token else None
