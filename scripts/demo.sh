#!/usr/bin/env bash
# Quick start: installs redis-server if it is missing (Debian), builds ferry, and runs `ferry demo`:
# a live migration under load between two throwaway local servers, ending with the cutover report.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v redis-server >/dev/null; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server redis-tools
fi
[ -d node_modules ] || npm ci --no-audit --no-fund
npm run build
exec ./bin/ferry demo "$@"
