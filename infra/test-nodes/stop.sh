#!/usr/bin/env bash
# Stops the Docker test nodes that start.sh made and removes everything it made: containers, volumes,
# daemons, mounts and folders. Only touches $TIANQI_NODES_DIR; never the machine's default daemon.
set -uo pipefail
ROOT="${TIANQI_NODES_DIR:-/tmp/tianqi-test-nodes}"
[ -d "$ROOT" ] || exit 0
for dir in "$ROOT"/node*/; do
  [ -d "$dir" ] || continue
  sock="$dir/docker.sock"
  if [ -S "$sock" ] && docker -H "unix://$sock" version >/dev/null 2>&1; then
    ids=$(docker -H "unix://$sock" ps -aq)
    [ -n "$ids" ] && docker -H "unix://$sock" rm -f -v $ids >/dev/null 2>&1
    docker -H "unix://$sock" volume prune -f >/dev/null 2>&1
  fi
  if [ -f "$dir/docker.pid" ]; then
    pid=$(cat "$dir/docker.pid")
    kill "$pid" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null
  fi
  # Anything still holding the folder (a containerd or shim the daemon left behind) goes too.
  for p in $(pgrep -f "$dir" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
  grep -o " ${dir%/}[^ ]*" /proc/mounts | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
  # node-btrfs: its data root was a loop device over an image file in the folder.
  if [ -f "$dir/btrfs.img" ]; then
    for loop in $(losetup -j "$dir/btrfs.img" -O NAME -n 2>/dev/null); do losetup -d "$loop" 2>/dev/null; done
  fi
done
rm -rf "$ROOT"
echo "test-nodes: stopped and removed $ROOT" >&2
