"""Is a directory on a mounted volume? On Kubernetes a pod's own disk is lost with the pod: a
serving directory that is not a mounted volume (a PersistentVolumeClaim shared with TF Serving)
receives pushes nobody serves, and shows a baseline reader no versions."""

from __future__ import annotations

import os


def _unescape(field: str) -> str:
    # /proc/self/mountinfo escapes space, tab, newline and backslash as octal.
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def mount_points(mountinfo: str = "/proc/self/mountinfo") -> list[str]:
    """The mount points this process sees ([] where there is no mountinfo)."""
    try:
        with open(mountinfo) as f:
            return [_unescape(line.split()[4]) for line in f if len(line.split()) > 4]
    except OSError:
        return []


def volume_of(path: str, mountinfo: str = "/proc/self/mountinfo") -> str | None:
    """The mount point below ``/`` that holds ``path`` (the longest one that contains it), or None
    when ``path`` lies on the root file system."""
    path = os.path.realpath(path)
    holders = [m for m in mount_points(mountinfo) if m != "/" and (path == m or path.startswith(m.rstrip("/") + "/"))]
    return max(holders, key=len) if holders else None


def require_volume(path: str, what: str) -> str:
    """The mount point holding ``path``; RuntimeError naming ``what`` when there is none."""
    volume = volume_of(path)
    if volume is None:
        raise RuntimeError(
            f"{what} {path} is not on a mounted volume: on Kubernetes it would be the pod's own disk, "
            "lost with the pod and never seen by TF Serving. Mount the serving PersistentVolumeClaim "
            "(s2s compile --serving-pvc) at the first directory of --serving-dir."
        )
    return volume
