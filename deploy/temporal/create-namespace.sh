#!/bin/sh
# One-shot job for docker-compose.yml, run by `temporalio/admin-tools` (Alpine, busybox sh: POSIX only).
# Waits until the Temporal frontend is healthy, creates the namespace if it is missing, then registers the search
# attributes ots-handoff writes (workflows/search-attributes.ts; docs/temporal.md, "Search attributes"). The
# minimal temporalio/server image creates no namespace and no custom search attribute by itself.
#
# Idempotent: an existing namespace is kept as it is (its retention too), an attribute that already exists with the
# same type is accepted. An attribute that exists with a different type is a hard error (exit 1): Temporal cannot
# change it, and the service's queries would silently break.
#
# Adapted from temporalio/samples-server compose/scripts/create-namespace.sh, whose give-up path reads a misspelt
# variable ($MAX_ATTdMPTS) and so dies of `set -u` instead of printing its message.
set -eu

NAMESPACE="${DEFAULT_NAMESPACE:-default}"
TEMPORAL_ADDRESS="${TEMPORAL_ADDRESS:-temporal:7233}"
RETENTION="${NAMESPACE_RETENTION:-72h}"
MAX_ATTEMPTS="${TEMPORAL_HEALTH_CHECK_MAX_ATTEMPTS:-60}"
SLEEP_SECONDS="${TEMPORAL_HEALTH_CHECK_SLEEP_SECONDS:-2}"
# NAME=Type pairs, separated by spaces. Keep in step with workflows/search-attributes.ts.
SEARCH_ATTRIBUTES="${SEARCH_ATTRIBUTES:-TicketId=Keyword ShareState=Keyword DeliveryChannel=Keyword CallSid=Keyword ExpiresAt=Datetime}"
export TEMPORAL_ADDRESS # the temporal CLI reads it as its --address default as well

# retry DESCRIPTION COMMAND [ARG...]: runs COMMAND until it succeeds, at most MAX_ATTEMPTS times.
retry() {
  what="$1"
  shift
  attempt=1
  until "$@"; do
    if [ "$attempt" -ge "$MAX_ATTEMPTS" ]; then
      echo "Gave up: $what did not succeed after $MAX_ATTEMPTS attempts" >&2
      return 1
    fi
    echo "$what: not yet (attempt $attempt/$MAX_ATTEMPTS), retrying in ${SLEEP_SECONDS}s"
    attempt=$((attempt + 1))
    sleep "$SLEEP_SECONDS"
  done
}

port_open() {
  nc -z -w 5 "${TEMPORAL_ADDRESS%:*}" "${TEMPORAL_ADDRESS##*:}"
}

cluster_healthy() {
  temporal operator cluster health --address "$TEMPORAL_ADDRESS"
}

ensure_namespace() {
  if temporal operator namespace describe --namespace "$NAMESPACE" --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1; then
    echo "Namespace '$NAMESPACE' already exists"
    return 0
  fi
  if out=$(temporal operator namespace create --namespace "$NAMESPACE" --retention "$RETENTION" \
    --address "$TEMPORAL_ADDRESS" 2>&1); then
    echo "Namespace '$NAMESPACE' created (retention $RETENTION)"
    return 0
  fi
  echo "$out" >&2
  return 1
}

# add_search_attribute NAME TYPE
add_search_attribute() {
  if out=$(temporal operator search-attribute create --namespace "$NAMESPACE" --name "$1" --type "$2" \
    --address "$TEMPORAL_ADDRESS" 2>&1); then
    echo "Search attribute $1 ($2) registered"
    return 0
  fi
  case "$out" in
    *"different type"*)
      echo "$out" >&2
      echo "FATAL: search attribute $1 exists in namespace '$NAMESPACE' with another type than $2." >&2
      echo "Remove it (temporal operator search-attribute remove --name $1) or use a fresh namespace." >&2
      exit 1
      ;;
    *"already exists"* | *"AlreadyExists"* | *"already registered"*)
      echo "Search attribute $1 ($2) already registered"
      return 0
      ;;
  esac
  # A namespace created a moment ago may not have reached the frontend's namespace cache yet: retried by the caller.
  echo "$out" >&2
  return 1
}

echo "Waiting for the Temporal frontend at $TEMPORAL_ADDRESS ..."
retry "port check of $TEMPORAL_ADDRESS" port_open
retry "temporal operator cluster health" cluster_healthy
retry "creating namespace '$NAMESPACE'" ensure_namespace

for pair in $SEARCH_ATTRIBUTES; do
  name="${pair%%=*}"
  type="${pair#*=}"
  if [ -z "$name" ] || [ "$name" = "$pair" ] || [ -z "$type" ]; then
    echo "FATAL: SEARCH_ATTRIBUTES entry '$pair' is not NAME=Type" >&2
    exit 1
  fi
  retry "registering search attribute $name" add_search_attribute "$name" "$type"
done

echo "Namespace '$NAMESPACE' is ready with search attributes: $SEARCH_ATTRIBUTES"
