#!/usr/bin/env bash
# The long variants of the reliability suite (marked `slow`, left out of ./run test): a scheduler soak
# with repeated SIGKILL/SIGSTOP of the active replica. Prints the same figures as the suite.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m pytest -m slow -p no:cacheprovider "$@"
