#!/usr/bin/env bash
# Starts N throwaway Docker daemons as Tianqi compute nodes on loopback addresses.
#   node1 (and every odd node): TCP with mutual TLS, certificates made here by openssl;
#   node2 (and every even node): plain TCP.
# Each daemon has its own data root, exec root, pidfile, unix socket and containerd namespace, so the
# machine's own Docker daemon and its containers are never touched; each has a stand-in
# `nvidia-container-runtime-hook` on its PATH so GPU device requests are accepted; each is loaded with
# the local test images (busybox `sh`, and one with `bash`). Safe to run twice: running nodes are kept.
# Unless TIANQI_NODES_BTRFS=0, one more plain-TCP node, node-btrfs, keeps its data root on a loop-mounted
# btrfs image with quotas on (storage driver btrfs): there Docker's `size` storage option really limits a
# container's system disk. It is listed apart ("btrfs" in nodes.json), so tests that use every node keep
# the three they had.
# Writes $TIANQI_NODES_DIR/nodes.json, which the test kit (infra/src/test-nodes.ts) reads.
set -euo pipefail

COUNT="${1:-${TIANQI_NODES_COUNT:-3}}"
ROOT="${TIANQI_NODES_DIR:-/tmp/tianqi-test-nodes}"
IP_BASE="${TIANQI_NODES_IP_BASE:-20}"
PORT="${TIANQI_NODES_PORT:-2376}"
GPUS_PER_NODE="${TIANQI_NODES_GPUS:-8}"
BTRFS="${TIANQI_NODES_BTRFS:-1}"
BTRFS_GB="${TIANQI_NODES_BTRFS_GB:-4}"
HERE="$(cd "$(dirname "$0")" && pwd)"

need() { command -v "$1" >/dev/null 2>&1 || { echo "test-nodes: '$1' is missing; install it with: apt-get install -y $2" >&2; exit 1; }; }
need dockerd docker.io
need docker docker.io
need openssl openssl
[ "$BTRFS" = 0 ] || { need mkfs.btrfs btrfs-progs; need losetup mount; }
BUSYBOX="$(command -v busybox || true)"
[ -n "$BUSYBOX" ] && file -L "$BUSYBOX" 2>/dev/null | grep -q 'dynamically' && BUSYBOX=""
[ -x /bin/busybox ] && BUSYBOX=/bin/busybox
[ -n "$BUSYBOX" ] || { echo "test-nodes: a static busybox is missing; install it with: apt-get install -y busybox-static" >&2; exit 1; }
BASH_STATIC="$(command -v bash-static || true)"
[ -n "$BASH_STATIC" ] || { echo "test-nodes: bash-static is missing; install it with: apt-get install -y bash-static" >&2; exit 1; }
if [ "$(id -u)" != 0 ]; then echo "test-nodes: Docker daemons need root; run as root (sudo)" >&2; exit 1; fi

mkdir -p "$ROOT"
"$HERE/make-certs.sh" "$ROOT/certs" "$COUNT" "$IP_BASE" >/dev/null
# Bumped whenever make-images.sh puts something else in the images: nodes then import them anew.
IMAGES_VERSION=3
"$HERE/make-images.sh" "$ROOT/images" "$BUSYBOX" "$BASH_STATIC" "$IMAGES_VERSION" >/dev/null

# start_daemon NAME DIR IP TLS [dockerd args…]: starts the node's dockerd unless it already answers,
# then loads the test images into it.
start_daemon() {
  local name="$1" dir="$2" ip="$3" tls="$4"; shift 4
  local sock="$dir/docker.sock"
  mkdir -p "$dir/bin" "$dir/data" "$dir/exec"
  printf '#!/bin/sh\n# Stand-in for the NVIDIA prestart hook: lets dockerd accept GPU device requests here.\nexit 0\n' >"$dir/bin/nvidia-container-runtime-hook"
  chmod +x "$dir/bin/nvidia-container-runtime-hook"
  if [ -f "$dir/docker.pid" ] && kill -0 "$(cat "$dir/docker.pid")" 2>/dev/null && docker -H "unix://$sock" version >/dev/null 2>&1; then
    echo "test-nodes: $name already running on $ip:$PORT" >&2
  else
    rm -f "$dir/docker.pid" "$sock"
    tlsargs=()
    if $tls; then
      tlsargs=(--tlsverify --tlscacert "$ROOT/certs/ca.pem" --tlscert "$ROOT/certs/$name-cert.pem" --tlskey "$ROOT/certs/$name-key.pem")
    fi
    PATH="$dir/bin:$PATH" setsid dockerd "$@" \
      --data-root "$dir/data" --exec-root "$dir/exec" --pidfile "$dir/docker.pid" \
      -H "unix://$sock" -H "tcp://$ip:$PORT" "${tlsargs[@]}" \
      --bridge none --iptables=false --ip-masq=false \
      --containerd-namespace "tianqi-$name" --containerd-plugins-namespace "tianqi-$name-plugins" \
      --log-level warn >"$dir/dockerd.log" 2>&1 </dev/null &
    for _ in $(seq 1 150); do
      docker -H "unix://$sock" version >/dev/null 2>&1 && break
      sleep 0.2
    done
    docker -H "unix://$sock" version >/dev/null 2>&1 || { echo "test-nodes: $name did not start; its log:" >&2; tail -20 "$dir/dockerd.log" >&2; exit 1; }
    echo "test-nodes: started $name on $ip:$PORT (tls=$tls)" >&2
  fi
  for img in busybox bash; do
    ref="tianqi-test/$img:latest"
    have="$(docker -H "unix://$sock" image inspect -f '{{index .Config.Labels "tianqi.test-image"}}' "$ref" 2>/dev/null || true)"
    [ "$have" = "$IMAGES_VERSION" ] ||
      docker -H "unix://$sock" import --change 'CMD ["/bin/sh"]' --change "LABEL tianqi.test-image=$IMAGES_VERSION" \
        "$ROOT/images/$img-v$IMAGES_VERSION.tar" "$ref" >/dev/null
  done
}

json_nodes=""
for i in $(seq 1 "$COUNT"); do
  name="node$i"
  dir="$ROOT/$name"
  ip="127.0.0.$((IP_BASE + i))"
  sock="$dir/docker.sock"
  tls=true; [ $((i % 2)) -eq 0 ] && tls=false
  start_daemon "$name" "$dir" "$ip" "$tls"
  entry="{\"name\":\"$name\",\"host\":\"$ip\",\"port\":$PORT,\"tls\":$tls,\"socketPath\":\"$sock\",\"gpuCount\":$GPUS_PER_NODE"
  if $tls; then
    entry="$entry,\"ca\":\"$ROOT/certs/ca.pem\",\"cert\":\"$ROOT/certs/client-cert.pem\",\"key\":\"$ROOT/certs/client-key.pem\""
  fi
  json_nodes="$json_nodes${json_nodes:+,}$entry}"
done

btrfs_json=""
if [ "$BTRFS" != 0 ]; then
  # The data root is a btrfs filesystem in a sparse image file, mounted through a loop device.
  name="node-btrfs"
  dir="$ROOT/$name"
  ip="127.0.0.$((IP_BASE + COUNT + 1))"
  mkdir -p "$dir/data"
  if ! mountpoint -q "$dir/data"; then
    [ -f "$dir/btrfs.img" ] || { truncate -s "${BTRFS_GB}G" "$dir/btrfs.img" && mkfs.btrfs -q "$dir/btrfs.img" >/dev/null; }
    mount -o loop "$dir/btrfs.img" "$dir/data"
  fi
  btrfs quota enable "$dir/data"
  start_daemon "$name" "$dir" "$ip" false --storage-driver btrfs
  btrfs_json=",\"btrfs\":{\"name\":\"$name\",\"host\":\"$ip\",\"port\":$PORT,\"tls\":false,\"socketPath\":\"$dir/docker.sock\",\"gpuCount\":$GPUS_PER_NODE}"
fi

cat >"$ROOT/nodes.json" <<JSON
{"nodes":[$json_nodes]$btrfs_json,"images":{"sh":"tianqi-test/busybox:latest","bash":"tianqi-test/bash:latest"}}
JSON
echo "$ROOT/nodes.json"
