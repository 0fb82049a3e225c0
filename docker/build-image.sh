#!/usr/bin/env bash
# Builds the emcd:dev container image (make image): a static emcd binary
# compiled on the host (cgo: libsecp256k1 linked in; NVML is dlopen'ed at run
# time and, absent from the image, reads as "no NVIDIA driver"), packed FROM
# scratch. The docker build context holds only the binary and an empty /tmp.
#
#   IMAGE=emcd:dev GO=go docker/build-image.sh
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
IMAGE=${IMAGE:-emcd:dev}
ctx=${BUILD_DIR:-build}/image

if ! docker version >/dev/null 2>&1; then
  echo "build-image: no Docker engine answers (docker version failed)" >&2
  exit 1
fi

rm -rf "$ctx"
mkdir -p "$ctx/tmp"
chmod 1777 "$ctx/tmp"
commit=$(git rev-parse HEAD 2>/dev/null || true)
# -static: glibc, libsecp256k1 and the rest linked in. The flags differ
# from `make build` only at link time, so the Go build cache is shared (Go
# resolves names itself on Linux when no nsswitch.conf asks for glibc's NSS,
# as in a scratch image; nodes address each other by IP anyway). The linker's warning that dlopen in a static binary needs the
# build's glibc at run time concerns NVML only: on a GPU host, run the
# binary from `make build` or mount the driver and glibc.
CGO_ENABLED=1 CGO_CFLAGS="${CGO_CFLAGS:--O2 -g -Wno-deprecated-declarations}" \
  "$GO" build \
  -ldflags "-s -w -X github.com/emc-network/emcd/params.GitCommit=$commit -linkmode external -extldflags -static" \
  -o "$ctx/emcd" ./cmd/emcd 2> >(grep -v "statically linked applications requires at runtime\|in function \`_cgo_\|^# github.com/emc-network/emcd/cmd/emcd$" >&2 || true)

# A static binary has no program interpreter (PT_INTERP); refuse a dynamic one.
if LC_ALL=C readelf -l "$ctx/emcd" 2>/dev/null | grep -q "Requesting program interpreter"; then
  echo "build-image: $ctx/emcd is dynamically linked; it would not run FROM scratch" >&2
  exit 1
fi
"$ctx/emcd" version >/dev/null

docker build --quiet -f docker/Dockerfile -t "$IMAGE" "$ctx" >/dev/null
# The image runs: the binary starts inside it.
docker run --rm "$IMAGE" version
echo "built image $IMAGE ($(docker image inspect -f '{{.Size}}' "$IMAGE") bytes)"
