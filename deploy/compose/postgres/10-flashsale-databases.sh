#!/usr/bin/env bash
# Database per service for docker compose: one login role and one database owned by it for
# catalog, orders and fulfillment, as `bin/platform setup` does locally. The postgres image
# runs this once, when its data volume is first initialised (/docker-entrypoint-initdb.d).
#
# Differences from the local set-up, on purpose (docs/adr/0050-container-deployment.md):
#   - no CREATEDB: a production role only needs its own database;
#   - CONNECT is revoked from PUBLIC, so a service's role cannot open another service's
#     database (R-database-per-service is enforced by PostgreSQL, not only by convention).
#
# Names default to the local ones; passwords have no default. Idempotent: a second run
# changes nothing. Also runnable by hand against any server with psql:
#   PGHOST=... POSTGRES_USER=postgres POSTGRES_DB=postgres CATALOG_DB_PASSWORD=... \
#     ORDER_DB_PASSWORD=... FULFILLMENT_DB_PASSWORD=... deploy/compose/postgres/10-flashsale-databases.sh
set -euo pipefail

create_service_database() {
  local prefix=$1 default_name=$2
  local name_var="${prefix}_DB_NAME" user_var="${prefix}_DB_USER" password_var="${prefix}_DB_PASSWORD"
  local dbname=${!name_var:-$default_name}
  local role=${!user_var:-$default_name}
  local password=${!password_var:-}
  if [ -z "$password" ]; then
    echo "flashsale-databases: ${password_var} is not set; refusing to create role ${role} without a password" >&2
    exit 1
  fi
  # psql variables (:'x' quotes a literal, format %I/%L quote identifiers/literals): names
  # and passwords never go into the SQL text unquoted.
  psql -v ON_ERROR_STOP=1 --no-psqlrc --quiet \
       --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-postgres}" \
       -v role="$role" -v password="$password" -v dbname="$dbname" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'role', :'password')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'dbname', :'role')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'dbname') \gexec
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'dbname') \gexec
SELECT format('GRANT ALL ON DATABASE %I TO %I', :'dbname', :'role') \gexec
SQL
  echo "flashsale-databases: database ${dbname} owned by role ${role}"
}

create_service_database CATALOG catalog
create_service_database ORDER orders
create_service_database FULFILLMENT fulfillment
