"""The serving directory's layout, shared by the Pusher that writes it and the servers that
read it: ``<serving dir>/<model name>/<version>/``, a version being a directory named by a
number (TF Serving ignores any other name, such as the Pusher's ``.incoming-*``)."""

from __future__ import annotations

import os


def versions(base: str | os.PathLike[str]) -> list[int]:
    """The numeric version directories under ``base``, oldest first ([] if there is no ``base``)."""
    if not os.path.isdir(base):
        return []
    return sorted(int(name) for name in os.listdir(base) if name.isdigit() and os.path.isdir(os.path.join(base, name)))
