#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what the tests need (Debian packages as root, npm
# packages), then checks formatting and types and runs every test against real PostgreSQL and real
# Docker test nodes. This is the README's test command and what .ci/run runs.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(docker.io containerd runc busybox-static bash-static btrfs-progs postgresql openssh-client sshpass rsync openssl procps python3 ncurses-bin ncurses-base vim-tiny chromium fonts-noto-cjk)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing: ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "The tests need these Debian packages: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

# `npm ci`: exactly the committed lock file (which holds every platform's optional packages, as a full
# install writes it). The tree must be as committed afterwards: an install that rewrites the lock file
# is a defect, caught here rather than on a new contributor's machine.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-fund --no-audit
fi
if git rev-parse --git-dir >/dev/null 2>&1 && ! git diff --quiet -- package-lock.json; then
  echo "The install changed package-lock.json; commit the lock file a full install writes:" >&2
  git --no-pager diff --stat -- package-lock.json >&2
  exit 1
fi

export TURBO_TELEMETRY_DISABLED=1
npm run lint
npm run typecheck

# The suite, with one closing line that adds up every package's vitest summary.
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
set +e
npm test 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
summary() { sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -E '^\S*:?test: +Tests ' | grep -oE "[0-9]+ $1" | awk '{s += $1} END {print s + 0}'; }
echo "tests: $(summary passed) passed, $(summary failed) failed"
exit "$status"
