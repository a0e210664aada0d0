#!/usr/bin/env bash
# Fill a configuration folder (HOTLINE_CONFIG) with the shipped policy, keeping any file already
# there: config/*.yaml, schedules.yaml, calendar.yaml, and the sample directory as directory.yaml
# (replace it with the district's own).  Usage: deploy/init-config.sh [FOLDER] (default deploy/etc)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
folder="${1:-$root/deploy/etc}"
mkdir -p "$folder"
cp -n "$root"/config/*.yaml "$root/schedules.yaml" "$root/calendar.yaml" "$folder/"
cp -n "$root/db/seed/district.yaml" "$folder/directory.yaml"
echo "configuration in $folder: $(ls "$folder" | tr '\n' ' ')"
