#!/usr/bin/env bash
# Prints shell assignments naming the container engine to use (eval "$(scripts/engine.sh)"):
# docker where its engine answers, else podman with the project's settings (docker/podman/),
# installing podman from Debian's packages when it is missing and we are root with apt-get.
# Exits 1 with a message on stderr when neither can be had.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
  echo "ENGINE=docker"
  exit 0
fi
if ! command -v podman >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "no container engine: installing podman, runc and mmdebstrap from Debian's packages ..." >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends podman runc mmdebstrap; } >&2
  else
    echo "error: no container engine: install Docker, or podman (Debian: apt-get install podman runc mmdebstrap)" >&2
    exit 1
  fi
fi
echo "ENGINE=podman"
echo "export CONTAINERS_CONF=$here/docker/podman/containers.conf"
echo "export CONTAINERS_STORAGE_CONF=$here/docker/podman/storage.conf"
