#!/usr/bin/env bash
# make image: builds the pipeline image (docker/Dockerfile, or $DOCKERFILE) as $IMAGE.
# Engine: docker where an engine answers; otherwise podman, configured by docker/podman/ (runtime
# runc, cgroupfs, ulimits below this VM's hard limits, overlay storage in podman's standard root
# location /var/lib/containers/storage), installed from Debian's packages when missing (root only).
# Base image: pulled where a registry answers; otherwise a local stand-in (scripts/base-image.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGE="${IMAGE:-seq2seq-tfx:latest}"
DOCKERFILE="${DOCKERFILE:-docker/Dockerfile}"
BASE=$(sed -n 's/^FROM \([^ ]*\).*/\1/p' "$DOCKERFILE" | head -1)
eval "$(scripts/engine.sh)"   # ENGINE, CONTAINERS_CONF, CONTAINERS_STORAGE_CONF
if [ "${1:-}" = --clean ]; then
  for name in "$IMAGE" "${IMAGE}-gpu" "$BASE"; do $ENGINE image rm -f "$name" >/dev/null 2>&1 && echo "removed $name" || true; done
  $ENGINE image prune -f >/dev/null 2>&1 || true
  exit 0
fi
echo "engine: $ENGINE ($($ENGINE --version))"

if ! $ENGINE image exists "$BASE" 2>/dev/null && ! $ENGINE image inspect "$BASE" >/dev/null 2>&1; then
  if ! timeout 60 $ENGINE pull -q "$BASE" >/dev/null 2>&1; then
    scripts/base-image.sh "$ENGINE" "$BASE" "$(scripts/find-python310.sh "${UV:-uv}")"
  fi
fi

# The host's CA bundle, for a package index behind a TLS-intercepting proxy: mounted into the
# build stage only (podman), named by build arguments the final stage does not keep.
ca_args=()
ca="${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}"
if [ "$ENGINE" = podman ] && [ -f "$ca" ]; then
  ca_args=(--volume "$ca:/run/host-ca.crt:ro" --build-arg SSL_CERT_FILE=/run/host-ca.crt --build-arg PIP_CERT=/run/host-ca.crt)
fi
pull_args=()
[ "$ENGINE" = podman ] && pull_args=(--pull=never)
started=$(date +%s)
$ENGINE build "${pull_args[@]}" --network=host "${ca_args[@]}" --label "s2s.sources=$(python3 scripts/source_hash.py)" \
  -f "$DOCKERFILE" -t "$IMAGE" .
size=$($ENGINE image inspect --format '{{.Size}}' "$IMAGE")
echo "image: $IMAGE built in $(( $(date +%s) - started )) s; $(( size / 1000000 )) MB"
