# Settings shared by up.sh and down.sh (sourced). Override any of them in the
# environment; down.sh must see the same DEVNET_NAME and DEVNET_DIR as up.sh.
DEVNET_NAME=${DEVNET_NAME:-emcd-devnet}
DEVNET_SUBNET=${DEVNET_SUBNET:-172.28.77.0/24}
# First node's address: validators .10-.13, router .14, compute nodes .15-.16.
DEVNET_IP_BASE=${DEVNET_IP_BASE:-172.28.77.10}
# Every node: p2p P, JSON-RPC P+1, gRPC P+2, metrics P+3.
DEVNET_PORT=${DEVNET_PORT:-30300}
DEVNET_PERIOD=${DEVNET_PERIOD:-1s}
DEVNET_TIMEOUT=${DEVNET_TIMEOUT:-180}
IMAGE=${IMAGE:-emcd:dev}
DEVNET_DIR=${DEVNET_DIR:-${BUILD_DIR:-build}/devnet}
mkdir -p "$DEVNET_DIR"
DEVNET_DIR=$(cd "$DEVNET_DIR" && pwd)
# The label every container and the network carry: down.sh removes by it.
DEVNET_LABEL="org.emc-network.devnet=$DEVNET_NAME"
