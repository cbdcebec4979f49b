"""Inputs from URLs, only from the prefixes a run allows.

A request may name its image or video by URL. With no allow-list (the
default) every URL is refused before any connection is made; with one, only
a URL that starts with an allowed prefix is fetched, without following
redirects (they could lead anywhere), within a size limit and a timeout.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from .errors import InputError

__all__ = ["fetch_allowed"]


def fetch_allowed(
    url: str, input_name: str, allowed_prefixes: Sequence[str], folder: Path, *, max_bytes: int, timeout_s: float = 30.0
) -> Path:
    """Downloads `url` into `folder` if an allowed prefix covers it; the file's path."""
    if not any(url.startswith(prefix) for prefix in allowed_prefixes):
        raise InputError(input_name, f"is a URL ({url}) that no allowed prefix covers "
                                     "(Context.allowed_url_prefixes); no request was made.")
    name = Path(urlsplit(url).path).name or "download"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{input_name}-{name}"
    try:
        with httpx.Client(follow_redirects=False, timeout=timeout_s) as client, client.stream("GET", url) as response:
            if response.status_code != 200:
                raise InputError(input_name, f"could not be fetched from {url}: HTTP {response.status_code}.")
            received = 0
            with target.open("wb") as out:
                for chunk in response.iter_bytes():
                    received += len(chunk)
                    if received > max_bytes:
                        raise InputError(input_name, f"at {url} is larger than {max_bytes} bytes "
                                                     "(Context.max_download_bytes).")
                    out.write(chunk)
    except httpx.HTTPError as exc:
        raise InputError(input_name, f"could not be fetched from {url}: {exc}") from exc
    except InputError:
        target.unlink(missing_ok=True)
        raise
    return target
