#!/usr/bin/env bash
# Builds a local stand-in for the pipeline image's base, python:3.10.13-slim-bookworm, when no
# registry can supply it: a minimal Debian 12 root file system from Debian's archive
# (mmdebstrap) with a Python 3.10 built for Debian 12 copied in at its own prefix (its rpath
# points there) and linked into /usr/local/bin, as in the official image.
# For local builds and tests only: with a registry, the official image is pulled instead.
# Usage: base-image.sh ENGINE TAG PYTHON310
set -euo pipefail
ENGINE="$1" TAG="$2" PY="$3"
prefix=$("$PY" -c 'import sys; print(sys.base_prefix)')
version=$("$PY" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')
work=$(mktemp -d "${TMPDIR:-/tmp}/s2s-base.XXXXXX")
trap 'rm -rf "$work"' EXIT
command -v mmdebstrap >/dev/null || { echo "error: mmdebstrap is needed to build the stand-in base image (apt-get install mmdebstrap)" >&2; exit 1; }
echo "base image: $TAG is not available from a registry; building a local stand-in from Debian 12 + Python $version ($prefix)"
# The runtime libraries the official slim image carries for CPython's extension modules.
mmdebstrap --quiet --variant=minbase --mode=root \
  --include=ca-certificates,netbase,tzdata,libssl3,libffi8,libsqlite3-0,libbz2-1.0,liblzma5,zlib1g,libreadline8,libncursesw6,libuuid1,libgdbm6,libexpat1 \
  bookworm "$work/rootfs.tar"
"$ENGINE" import --quiet "$work/rootfs.tar" localhost/s2s-debian:bookworm >/dev/null
tar -C / --exclude='__pycache__' --exclude="${prefix#/}/lib/python3.10/test" -cf "$work/python.tar" "${prefix#/}"
cat > "$work/Containerfile" <<CONTAINERFILE
FROM localhost/s2s-debian:bookworm
ADD python.tar /
RUN for name in python3.10 python3 python pip3.10 pip3 pip; do \
      if [ -e "$prefix/bin/\$name" ]; then ln -sf "$prefix/bin/\$name" "/usr/local/bin/\$name"; fi; \
    done \
 && ln -sf /usr/local/bin/python3.10 /usr/local/bin/python \
 && ln -sf /usr/local/bin/python3.10 /usr/local/bin/python3 \
 && python3.10 -c 'import ssl, sqlite3, bz2, lzma, ctypes, zlib, readline; print("python", __import__("sys").version.split()[0], "ok")'
# Scripts that pip installs land in the prefix bin/ (the official image: /usr/local/bin, on PATH).
ENV LANG=C.UTF-8 PATH=$prefix/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
CMD ["python3"]
CONTAINERFILE
"$ENGINE" build --quiet --pull=never --network=none -t "$TAG" -f "$work/Containerfile" "$work" >/dev/null
"$ENGINE" image rm localhost/s2s-debian:bookworm >/dev/null 2>&1 || true
echo "base image: built $TAG (local stand-in; not for publishing)"
