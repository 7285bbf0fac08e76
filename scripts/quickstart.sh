#!/usr/bin/env bash
# One-command entry points for a fresh Debian 12 / Ubuntu machine with Node >= 20:
#   bash scripts/quickstart.sh demo   set up, build, then train and evaluate on the built-in demo dataset
#   bash scripts/quickstart.sh test   set up (with test packages), build, then run the whole test suite
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-demo}"; shift || true

if ! command -v node >/dev/null 2>&1 || [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  echo "carclass needs Node.js >= 20 (with npm). Install it first, for example from https://nodejs.org or your distribution." >&2
  exit 1
fi

case "$what" in
  demo) bash scripts/setup-system.sh ;;
  test) bash scripts/setup-system.sh --test ;;
  *) echo "usage: bash scripts/quickstart.sh demo|test" >&2; exit 2 ;;
esac

# Install JS dependencies once (or when the lock file changed), then build native + TypeScript.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund; fi
npm run --silent compile

case "$what" in
  demo) node bin/carclass.js doctor && node bin/carclass.js demo "$@" ;;
  test) npm test -- "$@" ;;
esac
