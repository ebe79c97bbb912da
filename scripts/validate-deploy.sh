#!/usr/bin/env bash
# Validates the Prometheus configuration and alerting rules in deploy/prometheus with Prometheus' own promtool, on a
# machine with no Docker engine.
#
#   scripts/validate-deploy.sh
#
# promtool is built from the Go module proxy (go install github.com/prometheus/prometheus/cmd/promtool@VERSION) once
# into the git-ignored project cache .cache/promtool and reused afterwards: a few minutes of compiling on 2 cores the
# first time (the module pulls in the service-discovery clients), nothing after. It needs Go (the go command) and the
# Go module proxy.
#
# Checks, in order:
#   1. promtool check config deploy/prometheus/prometheus.yml: YAML, unknown keys, the scrape and rule_files
#      settings, and each rule file it names (alerts.yml: PromQL, templates, durations). promtool also wants the
#      scrape's credentials_file to exist; in the container entrypoint.sh writes it to a tmpfs, so the check runs on
#      a copy of the folder whose credentials_file points at a dummy file.
#   2. promtool check rules deploy/prometheus/alerts.yml, with its linter (duplicate rules, bad annotations).
#   3. promtool test rules deploy/prometheus/alerts.test.yml: series fed in, each alert expected to fire (or not)
#      with its labels and annotations at given times. A changed expression, threshold, `for` or annotation fails it.
#   4. Every PromQL query of deploy/grafana/dashboards/*.json parses: node extracts them, with Grafana's variables
#      ($__rate_interval, $__range, $instance, …) replaced by sample values, into recording rules that
#      promtool check rules parses. (Whether the metrics exist is test/unit/compose.test.ts's check.)
#
# VERSION: promtool 3.16.0 (module v0.316.0). The compose image is prom/prometheus:v3.15.0; v3.15.x cannot be
# installed with `go install` (its go.mod has replace directives), and 3.16 reads the same configuration and rules.
# Environment: OTS_PROMTOOL_CACHE (default .cache/promtool), GO (default go), NODE (default node).
# Exit codes: 0 valid, 1 invalid (promtool's message on stderr), 3 promtool could not be provisioned.
set -euo pipefail

PROMTOOL_MODULE_VERSION=v0.316.0
PROMTOOL_VERSION=3.16.0
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${OTS_PROMTOOL_CACHE:-$root/.cache/promtool}"
promtool="$cache/bin/promtool"
deploy="$root/deploy/prometheus"

say() { echo "validate-deploy: $*" >&2; }

# A go-installed promtool reports no version of its own (`promtool --version` is filled in by the release build's
# linker flags), so the build writes the module version beside it.
binary_ok() {
  [ -x "$promtool" ] && [ "$(cat "$promtool.version" 2>/dev/null)" = "$PROMTOOL_MODULE_VERSION" ] &&
    "$promtool" --help >/dev/null 2>&1
}

provision() {
  local go="${GO:-go}" log="$cache/install.log" started=$SECONDS
  command -v "$go" >/dev/null || { say "Go is needed to build promtool (the go command; see the README)"; exit 3; }
  say "building promtool $PROMTOOL_VERSION (go install …/cmd/promtool@$PROMTOOL_MODULE_VERSION) into ${cache#"$root"/} …"
  # -mod=mod: the module's own go.mod decides its dependencies, whatever GOFLAGS a shell or CI has set.
  if ! GOBIN="$cache/bin" GOFLAGS="-mod=mod -buildvcs=false" \
    "$go" install "github.com/prometheus/prometheus/cmd/promtool@$PROMTOOL_MODULE_VERSION" >"$log" 2>&1; then
    tail -n 25 "$log" >&2
    say "go install of promtool $PROMTOOL_MODULE_VERSION failed (is the Go module proxy reachable?). Full log: $log"
    exit 3
  fi
  if ! "$promtool" --help >/dev/null 2>&1; then
    say "go install succeeded, but $promtool does not run: $("$promtool" --help 2>&1 | head -n 3 || true)"
    exit 3
  fi
  printf '%s\n' "$PROMTOOL_MODULE_VERSION" >"$promtool.version"
  say "promtool built in $((SECONDS - started)) s"
}

if ! binary_ok; then
  mkdir -p "$cache"
  # One builder at a time (two terminals, parallel test workers); the second one finds the binary ready.
  if command -v flock >/dev/null; then
    exec 9>"$cache/.lock"
    flock 9
  fi
  binary_ok || provision
fi

for f in prometheus.yml alerts.yml alerts.test.yml; do
  [ -f "$deploy/$f" ] || { say "no such file: deploy/prometheus/$f"; exit 1; }
done

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cp "$deploy"/*.yml "$tmp/"
printf 'validate-deploy-dummy-token' >"$tmp/metrics-token"
# The one path that only exists inside the container (entrypoint.sh writes it): the copy points at the dummy.
grep -q 'credentials_file: /run/ots-handoff-metrics/token$' "$tmp/prometheus.yml" || {
  say "deploy/prometheus/prometheus.yml no longer has credentials_file: /run/ots-handoff-metrics/token (update this script and entrypoint.sh together)"
  exit 1
}
sed -i "s#credentials_file: /run/ots-handoff-metrics/token\$#credentials_file: $tmp/metrics-token#" "$tmp/prometheus.yml"

status=0
run() {
  local what="$1"
  shift
  if (cd "$tmp" && "$promtool" "$@") >"$tmp/out" 2>&1; then
    say "$what: ok"
  else
    cat "$tmp/out" >&2
    say "$what: FAILED (promtool $PROMTOOL_VERSION, message above)"
    status=1
  fi
}
run "promtool check config prometheus.yml" check config prometheus.yml
run "promtool check rules alerts.yml" check rules --lint=all --lint-fatal alerts.yml
run "promtool test rules alerts.test.yml" test rules alerts.test.yml

# Grafana's variables, as Grafana expands them, with sample values; a variable left over is an error of its own.
"${NODE:-node}" - "$root/deploy/grafana/dashboards" "$tmp/dashboard-queries.yml" <<'JS' || status=1
const fs = require('node:fs');
const path = require('node:path');
const [dir, out] = process.argv.slice(2);
const vars = { __rate_interval: '1m', __interval: '1m', __range: '1h', instance: '.*' };
const rules = [];
for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.json'))) {
  const d = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
  for (const p of d.panels ?? []) {
    for (const t of p.targets ?? []) {
      const expr = t.expr.replace(/\$\{?(\w+)\}?/g, (m, v) => {
        if (!(v in vars)) throw new Error(`${f}: panel "${p.title}": unknown variable ${m} in ${t.expr}`);
        return vars[v];
      });
      // The record name says where the query is: promtool's message names it.
      const where = `${f}:${p.title}:${t.refId}`.toLowerCase().replace(/[^a-z0-9:]+/g, '_');
      rules.push({ record: `${where}:${rules.length}`, expr });
    }
  }
}
if (rules.length === 0) throw new Error(`no queries in ${dir}`);
fs.writeFileSync(out, JSON.stringify({ groups: [{ name: 'dashboard-queries', rules }] }, null, 1));
console.error(`validate-deploy: ${rules.length} dashboard queries extracted`);
JS
[ -f "$tmp/dashboard-queries.yml" ] &&
  run "promtool check rules (the dashboard's PromQL)" check rules --lint=none dashboard-queries.yml
exit "$status"
