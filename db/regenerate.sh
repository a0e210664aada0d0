#!/usr/bin/env bash
# Regenerate the initial migration from the models (only while the schema has not shipped).
set -euo pipefail
cd "$(dirname "$0")/.."
rm -f db/versions/0001_initial_schema.py /tmp/hotline-gen.db
.venv/bin/python -c "
from alembic import command
from worker.db import alembic_config
command.revision(alembic_config('sqlite:////tmp/hotline-gen.db'), message='initial schema', autogenerate=True, rev_id='0001')"
