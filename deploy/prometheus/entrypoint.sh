#!/bin/sh
# Entry point of docker-compose.yml's prometheus service (prom/prometheus runs it as the user nobody with busybox
# sh): writes the bearer token Prometheus scrapes ots-handoff's /metrics with, then runs Prometheus with the
# compose command's arguments.
# The token is the first of METRICS_TOKENS, the same comma list the service accepts (newest first): one variable
# for both sides. It goes to a tmpfs (compose `tmpfs:`), readable by this user only; prometheus.yml names the file.
# Empty METRICS_TOKENS: an empty file, so the scrapes are refused (the service's /metrics then answers loopback
# clients only) and the alert OtsHandoffScrapeFailing fires; Prometheus still starts, so the rest of the stack runs.
set -eu

dir=/run/ots-handoff-metrics
umask 077
first=${METRICS_TOKENS:-}
first=${first%%,*}
# No whitespace may reach the header (a token is 16+ characters without spaces; "a, b" lists are trimmed).
token=$(printf '%s' "$first" | tr -d ' \t\r\n')
if [ -z "$token" ]; then
  echo "prometheus: METRICS_TOKENS is empty: ots-handoff's /metrics refuses this Prometheus (set METRICS_TOKENS in .env)" >&2
fi
printf '%s' "$token" > "$dir/token"

exec /bin/prometheus "$@"
