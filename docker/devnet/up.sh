#!/usr/bin/env bash
# Starts the Docker devnet (make devnet): 4 validators, 1 router and 2
# compute nodes (one simulated H100 each, process executor), one container
# per node from the emcd:dev image (make image), on their own bridge network
# with one IP per node. The genesis, keys and configs come from
# `emcd testnet --ip-base`, run inside the image. Waits until every node
# agrees on a head, then prints the endpoints. make devnet-down removes it.
set -euo pipefail
cd "$(dirname "$0")/../.."
. docker/devnet/env.sh

fail() { echo "devnet: $*" >&2; exit 1; }

docker version >/dev/null 2>&1 || fail "no Docker engine answers (docker version failed)"
docker image inspect "$IMAGE" >/dev/null 2>&1 || fail "image $IMAGE missing: run make image"
command -v curl >/dev/null || fail "curl is needed to poll the nodes"
if docker network inspect "$DEVNET_NAME" >/dev/null 2>&1; then
  fail "network $DEVNET_NAME exists: the devnet is already up (make devnet-down removes it)"
fi
net="$DEVNET_DIR/net"
[ -e "$net" ] && fail "$net exists: a previous devnet's data (make devnet-down removes it)"

user="$(id -u):$(id -g)"
# The data dirs are mounted at the same path inside the containers, so the
# absolute paths in the generated configs (password files) hold there too.
vol="$DEVNET_DIR:$DEVNET_DIR"

docker run --rm --user "$user" -v "$vol" --network none "$IMAGE" testnet \
  --validators 4 --routers 1 --compute 2 --gpu.simulated 1 --compute.executor process \
  --block-period "$DEVNET_PERIOD" --ip-base "$DEVNET_IP_BASE" --base-port "$DEVNET_PORT" \
  --out "$net" >"$DEVNET_DIR/testnet.txt" || fail "emcd testnet failed"

docker network create --driver bridge --subnet "$DEVNET_SUBNET" --label "$DEVNET_LABEL" "$DEVNET_NAME" >/dev/null

names=(validator-1 validator-2 validator-3 validator-4 router-1 compute-1 compute-2)
ips=()
ip_of() { # the address `emcd testnet --ip-base` gave node $1 (0-based)
  local base=${DEVNET_IP_BASE%.*} last=${DEVNET_IP_BASE##*.}
  echo "$base.$((last + $1))"
}
for i in "${!names[@]}"; do
  name=${names[$i]}
  role=${name%-*}
  ip=$(ip_of "$i")
  ips+=("$ip")
  docker run -d --name "$DEVNET_NAME-$name" --hostname "$name" --label "$DEVNET_LABEL" \
    --network "$DEVNET_NAME" --ip "$ip" --user "$user" -v "$vol" --tmpfs /tmp \
    "$IMAGE" --role "$role" --datadir "$net/$name" >/dev/null
done

rpc() { # rpc IP METHOD PARAMS: the raw JSON-RPC response, empty on failure
  curl -s -m 3 -H 'Content-Type: application/json' \
    -d "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"$2\",\"params\":$3}" \
    "http://$1:$((DEVNET_PORT + 1))" 2>/dev/null || true
}
result() { sed -n 's/.*"result":"\(0x[0-9a-fA-F]*\)".*/\1/p'; }
block_hash() { sed -n 's/.*"hash":"\(0x[0-9a-f]*\)".*/\1/p'; }

dump_logs() {
  for name in "${names[@]}"; do
    echo "--- $name (last 20 lines)" >&2
    docker logs --tail 20 "$DEVNET_NAME-$name" >&2 2>&1 || true
  done
}

# Agreement: every node is past block 2 and all report the same hash at the
# lowest of their heads.
deadline=$((SECONDS + DEVNET_TIMEOUT))
agreed=""
while [ $SECONDS -lt $deadline ]; do
  low=""
  for ip in "${ips[@]}"; do
    h=$(rpc "$ip" eth_blockNumber '[]' | result)
    [ -z "$h" ] && { low=""; break; }
    h=$((h))
    if [ -z "$low" ] || [ "$h" -lt "$low" ]; then low=$h; fi
  done
  if [ -n "$low" ] && [ "$low" -ge 2 ]; then
    hashes=()
    for ip in "${ips[@]}"; do
      hashes+=("$(rpc "$ip" eth_getBlockByNumber "[\"$(printf '0x%x' "$low")\",false]" | block_hash)")
    done
    if [ -n "${hashes[0]}" ] && [ "$(printf '%s\n' "${hashes[@]}" | sort -u | wc -l)" -eq 1 ]; then
      agreed="$low ${hashes[0]}"
      break
    fi
  fi
  sleep 1
done
if [ -z "$agreed" ]; then
  dump_logs
  fail "the nodes did not agree on a head within ${DEVNET_TIMEOUT}s (logs above; make devnet-down removes the devnet)"
fi

echo "devnet $DEVNET_NAME up: ${#names[@]} nodes agree on block ${agreed% *} (${agreed#* })"
printf '%-12s %-15s %-32s %-22s %s\n' NODE IP JSON-RPC/WS GRPC METRICS
for i in "${!names[@]}"; do
  ip=${ips[$i]}
  printf '%-12s %-15s %-32s %-22s %s\n' "${names[$i]}" "$ip" "http://$ip:$((DEVNET_PORT + 1))" \
    "$ip:$((DEVNET_PORT + 2))" "http://$ip:$((DEVNET_PORT + 3))/metrics"
done
echo "keys, genesis and data dirs: $net (accounts: $DEVNET_DIR/testnet.txt)"
echo "logs: docker logs $DEVNET_NAME-validator-1    remove everything: make devnet-down"
