#!/bin/sh
# One-shot schema job for docker-compose.yml, run by `temporalio/admin-tools` (Alpine, busybox sh: POSIX only).
# Creates the `temporal` and `temporal_visibility` databases on PostgreSQL and brings both schemas up to the version
# shipped in this admin-tools image. Safe to run on every `docker compose up`: `create` ignores an existing database,
# `setup-schema -v 0.0` leaves a newer schema alone and `update-schema` applies only the missing versions.
# Adapted from temporalio/samples-server compose/scripts/setup-postgres.sh.
# The password is read by temporal-sql-tool from SQL_PASSWORD.
set -eu

: "${POSTGRES_SEEDS:?POSTGRES_SEEDS (the PostgreSQL host) is required}"
: "${POSTGRES_USER:?POSTGRES_USER is required}"
: "${SQL_PASSWORD:?SQL_PASSWORD (the PostgreSQL password) is required}"
DB_PORT="${DB_PORT:-5432}"
SCHEMA_DIR="${SCHEMA_DIR:-/etc/temporal/schema/postgresql/v12}"
MAX_ATTEMPTS="${SETUP_MAX_ATTEMPTS:-30}"
SLEEP_SECONDS="${SETUP_SLEEP_SECONDS:-2}"

echo "Waiting for PostgreSQL at ${POSTGRES_SEEDS}:${DB_PORT} ..."
attempt=1
until nc -z -w 5 "$POSTGRES_SEEDS" "$DB_PORT"; do
  if [ "$attempt" -ge "$MAX_ATTEMPTS" ]; then
    echo "PostgreSQL at ${POSTGRES_SEEDS}:${DB_PORT} did not accept connections after $MAX_ATTEMPTS attempts" >&2
    exit 1
  fi
  attempt=$((attempt + 1))
  sleep "$SLEEP_SECONDS"
done

sql_tool() {
  temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -u "$POSTGRES_USER" -p "$DB_PORT" "$@"
}

for db in temporal temporal_visibility; do
  case "$db" in
    temporal) versioned="$SCHEMA_DIR/temporal/versioned" ;;
    *) versioned="$SCHEMA_DIR/visibility/versioned" ;;
  esac
  echo "Setting up database '$db' (schema from $versioned) ..."
  sql_tool --db "$db" create
  sql_tool --db "$db" setup-schema -v 0.0
  sql_tool --db "$db" update-schema -d "$versioned"
done

echo 'PostgreSQL schema setup complete'
