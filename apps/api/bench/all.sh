#!/usr/bin/env sh
# Every API benchmark in turn, each given this script's arguments (so `npm run bench -- --json` reaches
# all of them, not only the last).
set -e
cd "$(dirname "$0")/.."
for bench in domain reconciler docker-events api jumpbox jumpbox-flood replicas fleet; do
  npx tsx "bench/$bench.bench.ts" "$@"
done
