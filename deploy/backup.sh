#!/usr/bin/env bash
# Back up the stack: the database (pg_dump, custom format) and the archive (the whole HOTLINE_VAR volume:
# documents in every version, the outbox blobs), into FOLDER (default ./backups), one pair of files per run.
#   deploy/backup.sh [FOLDER]
# Restore: docker-compose exec -T postgres pg_restore -U "$POSTGRES_USER" -d "$POSTGRES_DB" --clean < hotline-….dump
#          docker-compose run --rm --no-deps -T --entrypoint tar scheduler xzf - -C /var/lib/hotline < archive-….tar.gz
set -euo pipefail
cd "$(dirname "$0")/.."
folder="${1:-backups}"
stamp="$(date +%Y%m%d-%H%M%S)"
mkdir -p "$folder"
set -a; . "${HOTLINE_ENV_FILE:-deploy/hotline.env}"; set +a
compose="${COMPOSE:-docker-compose}"
$compose exec -T postgres pg_dump -U "$POSTGRES_USER" -Fc "$POSTGRES_DB" > "$folder/hotline-$stamp.dump"
$compose run --rm --no-deps -T --entrypoint tar scheduler czf - -C /var/lib/hotline . \
  > "$folder/archive-$stamp.tar.gz"
ls -l "$folder/hotline-$stamp.dump" "$folder/archive-$stamp.tar.gz"
