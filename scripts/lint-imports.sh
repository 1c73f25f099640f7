#!/usr/bin/env bash
# Run import-linter on the source folders. The editable install maps folders through an
# import hook that import-linter cannot follow, so expose them as a real `classkit`
# namespace package made of symlinks under build/lint/.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p build/lint/classkit
for d in engine cli app models; do ln -sfn "../../../$d" "build/lint/classkit/$d"; done
PYTHONPATH="$PWD/build/lint${PYTHONPATH:+:$PYTHONPATH}" "${VENV:-.venv}/bin/lint-imports" "$@"
