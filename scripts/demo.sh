#!/usr/bin/env bash
# One command: set up (idempotently) and run `workprint demo` — a private X display, a real app driven by real
# input, capture -> redaction -> upload -> dataset with the embedded defaults.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$root/scripts/bootstrap.sh"
exec "$root/.venv/bin/workprint" demo "$@"
