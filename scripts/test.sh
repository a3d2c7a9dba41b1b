#!/usr/bin/env bash
# One command: set up (idempotently) and run the whole test suite: lint, strict typing, pytest on real Xvfb,
# SQLite, PostgreSQL (127.0.0.1:5432, database `test`), a real S3 server and Chromium.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export WORKPRINT_TEST_DEPS=1
source "$root/scripts/bootstrap.sh"
cd "$root"
.venv/bin/ruff check --no-cache src tests bench
.venv/bin/mypy src
exec .venv/bin/pytest "$@"
