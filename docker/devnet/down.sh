#!/usr/bin/env bash
# Removes the Docker devnet (make devnet-down): its containers, their
# anonymous volumes, its network and its data dir. Safe to run twice.
set -euo pipefail
cd "$(dirname "$0")/../.."
. docker/devnet/env.sh

if ! docker version >/dev/null 2>&1; then
  echo "devnet-down: no Docker engine answers (docker version failed)" >&2
  exit 1
fi
ids=$(docker ps -aq --filter "label=$DEVNET_LABEL")
if [ -n "$ids" ]; then
  # -v: the anonymous /data volume each container got from the image.
  docker rm -f -v $ids >/dev/null
fi
nets=$(docker network ls -q --filter "label=$DEVNET_LABEL")
if [ -n "$nets" ]; then
  docker network rm $nets >/dev/null
fi
rm -rf "$DEVNET_DIR"
echo "devnet $DEVNET_NAME removed (containers, network, $DEVNET_DIR)"
