#!/usr/bin/env bash
# A guided tour of nova-config on made-up data: the places settings can come from, which one wins,
# how `nova-config check` reports provenance, and how staging and production fail fast.
#
# Run it with `make demo` (it needs `nova-config` and the package's `python` on PATH).
#
# Every demo value is fake but shaped like the real thing. The tour never prints one: commands are
# shown with secret values hidden, everything printed also goes to a log, and the last step
# searches that log for each demo secret. The script exits 0 only when every command succeeded or
# failed exactly as the tour says it should.
set -euo pipefail

# ---------------------------------------------------------------------------------------------
# Demo data: fake values that look real, so that the validators treat them as real secrets.
# ---------------------------------------------------------------------------------------------
readonly WEBHOOK_TOKEN="dEmO9xQ2kP7vL4mR8tY1wZ3bN6cH5jF0gD_sA-uEiOp2XyT7rWq4Ns8MkLb3Vc6Hn1Jd"
readonly WEBHOOK_URL="https://discord.com/api/webhooks/1187465320987654321/$WEBHOOK_TOKEN"
readonly DB_PASSWORD="tsdb-Demo-7Hq2-Wm9x-Lp4K"
readonly DOTENV_DB_PASSWORD="tsdb#Demo=9fQ2xL!vR" # '#' and '=' inside a double-quoted .env value
readonly FILE_DB_PASSWORD="tsdb-file-Demo-3Kx8Zq" # the one behind TIMESCALE_PASSWORD_FILE
readonly ALPACA_KEY="AKDEMO7Q2M4X9LZ3T8WB"          # Alpaca-style key id: AK + 18 characters
readonly STAGING_ALPACA_KEY="AKDEMOSTG5R1N8J2V6PC"
readonly ALPACA_SECRET="dEmOsK4q8Zr2Lx7Vn3Tb9Wm1Hc6Jp5Yg0Fd2Ks8Q"
# The names of the variables above: step 7 can then say which one leaked without printing it.
readonly DEMO_SECRET_NAMES=(
  WEBHOOK_URL WEBHOOK_TOKEN DB_PASSWORD DOTENV_DB_PASSWORD FILE_DB_PASSWORD
  ALPACA_KEY STAGING_ALPACA_KEY ALPACA_SECRET
)

# Every variable NovaSettings reads, without prefix; each step unsets these in all their forms.
readonly SETTINGS=(
  DISCORD_WEBHOOK_URL TIMESCALE_PASSWORD ALPACA_API_KEY ALPACA_SECRET_KEY
  TIMESCALE_HOST TIMESCALE_PORT TIMESCALE_USER TIMESCALE_DB
)

# ---------------------------------------------------------------------------------------------
# Scratch space, removed however the script ends.
# ---------------------------------------------------------------------------------------------
DEMO=$(mktemp -d "${TMPDIR:-/tmp}/nova-config-demo.XXXXXX")
readonly DEMO
readonly LOG="$DEMO/walkthrough.log" # everything the tour printed, searched in step 7
readonly OUT="$DEMO/last-output"      # the output of the last command, for checking its message
cleanup() {
  cd /                                # not inside the folder being removed
  rm -rf -- "$DEMO"
}
trap cleanup EXIT
: >"$LOG"

# ---------------------------------------------------------------------------------------------
# Helpers.
# ---------------------------------------------------------------------------------------------

# Print a line and keep it in the log.
say() {
  printf '%s\n' "$*" | tee -a "$LOG"
}

# Stop the tour: something did not behave as the tour says it does.
fail() {
  printf '\nwalkthrough FAILED: %s\n' "$*" >&2
  exit 1
}

is_demo_secret() {
  local name
  for name in "${DEMO_SECRET_NAMES[@]}"; do
    [[ $1 == "${!name}" ]] && return 0
  done
  return 1
}

# Export a variable and show the command; a demo secret is shown as *** so it never reaches the log.
put() {
  export "$1=$2"
  if is_demo_secret "$2"; then
    say "\$ export $1=***"
  else
    say "\$ export $1=$2"
  fi
}

# Write a file holding a secret, ending with a newline as `echo` and editors leave it.
write_secret() {
  mkdir -p "$(dirname "$1")"
  printf '%s\n' "$2" >"$1"
}

# Show a file with every demo secret in it replaced by ***, so its syntax stays visible.
show_file() {
  local text name
  text=$(<"$1")
  for name in "${DEMO_SECRET_NAMES[@]}"; do
    text=${text//"${!name}"/***}
  done
  say "\$ cat $1   # demo secrets shown as ***"
  say "$text"
}

# run [--show TEXT] STATUS COMMAND...: show the command, run it, print its output to the screen
# and the log, then print its exit status. The tour stops unless the status is STATUS: 0 for a
# step that must work, 1 for one that must be refused.
run() {
  local shown=""
  if [[ $1 == --show ]]; then
    shown=$2
    shift 2
  fi
  local want=$1 status=0
  shift
  say "\$ ${shown:-$*}"
  "$@" >"$OUT" 2>&1 || status=$?
  tee -a "$LOG" <"$OUT"
  say "exit status: $status"
  ((status == want)) || fail "'$*' exited $status; the tour expected $want"
}

# Check that the last command's output says PHRASE: a refusal must be refused for the right reason.
said() {
  grep -qF -- "$1" "$OUT" || fail "the last command's output does not say: $1"
}

# Check that the last `check` table has the row SETTING SOURCE LOCATION... (LOCATION: its start).
row() {
  awk -v v="$1" -v s="$2" -v l="$3" '$1 == v && $2 == s && index($3, l) == 1 { found = 1 }
    END { exit !found }' "$OUT" || fail "the table does not show $1 from $2 $3"
}

# verify FIELD FROM VALUE...: load NovaSettings in Python and check, for each field, where it came
# from (FROM is "source:end of location") and that it holds exactly VALUE: quotes, '#', '=' and a
# secret file's trailing newline handled. The values go in through the environment and only field
# names are ever printed.
verify() {
  local -a specs=() wants=()
  while (($#)); do
    specs+=("$1|$2")
    wants+=("DEMO_WANT_$1=$3")
    shift 3
  done
  if ! env "${wants[@]}" python - "${specs[@]}" >"$OUT" 2>&1 <<'EOF'; then
import os
import sys

from nova_config import NovaSettings

settings = NovaSettings()
for spec in sys.argv[1:]:
    field, _, want_from = spec.partition("|")
    source, _, location = want_from.partition(":")
    origin = settings.source_of(field)
    value = getattr(settings, field)
    got = value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)
    if origin.source != source or not origin.location.endswith(location):
        sys.exit(f"{field} came from {origin}, not from {want_from}")
    if got != os.environ["DEMO_WANT_" + field]:
        sys.exit(f"{field} came from {origin} but does not hold the demo value written there")
EOF
    tee -a "$LOG" <"$OUT"
    fail "the Python check of ${specs[*]%%|*} failed"
  fi
  say "(checked in Python, values not shown: ${specs[*]%%|*} came from the expected place with the exact demo value)"
}

# Start a step: a clean environment (nothing from the caller's shell or the previous step), its own
# working folder (so no earlier .env is read), and an empty secrets folder of the demo's own (so the
# machine's /run/secrets is never read), then the header.
step() {
  local name prefix
  unset NOVA_ENV NOVA_SOURCES NOVA_SECRETS_DIR NOVA_ENV_FILE NOVA_ALLOW_DOTENV
  for name in "${SETTINGS[@]}"; do
    for prefix in "" DEVELOPMENT_ TEST_ STAGING_ PRODUCTION_; do
      unset "$prefix$name" "$prefix${name}_FILE"
    done
  done
  STEP_DIR="$DEMO/step$1"
  mkdir -p "$STEP_DIR/no-secrets"
  cd "$STEP_DIR"
  export NOVA_SECRETS_DIR="$STEP_DIR/no-secrets"
  say ""
  say "== $1. $2 =="
  say "(clean environment; working folder $STEP_DIR; NOVA_SECRETS_DIR=no-secrets, an empty folder there)"
}

command -v nova-config >/dev/null || fail "nova-config is not on PATH; run this with 'make demo'"
command -v python >/dev/null || fail "python is not on PATH; run this with 'make demo'"

say "nova-config walkthrough on fake demo data (secret values are shown as ***)"

# ---------------------------------------------------------------------------------------------
step 1 "Environment variables only"
# The simplest deployment: everything in the process environment.
put DISCORD_WEBHOOK_URL "$WEBHOOK_URL"
put TIMESCALE_PASSWORD "$DB_PASSWORD"
put ALPACA_API_KEY "$ALPACA_KEY"
put TIMESCALE_HOST db.demo.internal
run 0 nova-config check
row ALPACA_API_KEY env ALPACA_API_KEY

# ---------------------------------------------------------------------------------------------
step 2 "A .env file in the working folder (no environment variables)"
# The syntax people really write: `export` in front, a quoted value holding '#' and '=', and a
# comment after a value. None of it may end up in the value.
cat >.env <<EOF
# Local development secrets for Nova Aetus
export DISCORD_WEBHOOK_URL=$WEBHOOK_URL

TIMESCALE_PASSWORD="$DOTENV_DB_PASSWORD"
ALPACA_API_KEY=$ALPACA_KEY  # paper-trading key id
TIMESCALE_PORT=6543
EOF
show_file .env
run 0 nova-config check
verify \
  discord_webhook_url dotenv:/.env:2 "$WEBHOOK_URL" \
  timescale_password dotenv:/.env:4 "$DOTENV_DB_PASSWORD" \
  alpaca_api_key dotenv:/.env:5 "$ALPACA_KEY" \
  timescale_port dotenv:/.env:6 6543

# ---------------------------------------------------------------------------------------------
step 3 "Secret files: a Docker secrets folder and a Kubernetes-style mounted volume"
# Docker (`docker compose` secrets) mounts one plain file per secret. The file names need not match
# the variable: any case, '-' or '_', and db_password is an alias of TIMESCALE_PASSWORD.
docker="$STEP_DIR/docker-secrets"
write_secret "$docker/discord_webhook_url" "$WEBHOOK_URL"
write_secret "$docker/db_password" "$DB_PASSWORD"
write_secret "$docker/alpaca-api-key" "$ALPACA_KEY"
# Kubernetes mounts a Secret as a timestamped folder, a `..data` link to it (swapped atomically
# on update) and one top-level link per key through `..data`.
k8s="$STEP_DIR/k8s-secrets"
write_secret "$k8s/..2026_11_28_00_00_00.000/alpaca_secret_key" "$ALPACA_SECRET"
write_secret "$k8s/..2026_11_28_00_00_00.000/timescale_user" "nova_app"
ln -s ..2026_11_28_00_00_00.000 "$k8s/..data"
ln -s ..data/alpaca_secret_key "$k8s/alpaca_secret_key"
ln -s ..data/timescale_user "$k8s/timescale_user"
# What the two folders hold: names and link targets only, never contents.
listing=(find docker-secrets k8s-secrets -mindepth 1 "(" -type l -printf '%p -> %l\n' -o -printf '%p\n' ")")
say "\$ find docker-secrets k8s-secrets -mindepth 1 \\( -type l -printf '%p -> %l\\n' -o -printf '%p\\n' \\) | sort"
"${listing[@]}" | LC_ALL=C sort | tee -a "$LOG"
put NOVA_SECRETS_DIR "$docker:$k8s" # folders separated by ':', first folder first
run 0 nova-config check
verify \
  discord_webhook_url files:/docker-secrets/discord_webhook_url "$WEBHOOK_URL" \
  timescale_password files:/docker-secrets/db_password "$DB_PASSWORD" \
  alpaca_api_key files:/docker-secrets/alpaca-api-key "$ALPACA_KEY" \
  alpaca_secret_key files:/k8s-secrets/alpaca_secret_key "$ALPACA_SECRET" \
  timescale_user files:/k8s-secrets/timescale_user nova_app

say ""
say "-- 3b. The <NAME>_FILE convention (as in the official Docker images): a path in a variable --"
write_secret "$STEP_DIR/elsewhere/tsdb-password.txt" "$FILE_DB_PASSWORD"
put TIMESCALE_PASSWORD_FILE "$STEP_DIR/elsewhere/tsdb-password.txt"
# TIMESCALE_PASSWORD_FILE is read before the folders, so it beats docker-secrets/db_password.
run 0 nova-config check
said "(from TIMESCALE_PASSWORD_FILE)"
verify timescale_password "files:/tsdb-password.txt (from TIMESCALE_PASSWORD_FILE)" "$FILE_DB_PASSWORD"

# ---------------------------------------------------------------------------------------------
step 4 "Per-environment override: in staging, STAGING_ALPACA_API_KEY beats ALPACA_API_KEY"
put NOVA_ENV staging
put DISCORD_WEBHOOK_URL "$WEBHOOK_URL"
put TIMESCALE_PASSWORD "$DB_PASSWORD"
put ALPACA_API_KEY "$ALPACA_KEY"
put STAGING_ALPACA_API_KEY "$STAGING_ALPACA_KEY"
run 0 nova-config check
row ALPACA_API_KEY env STAGING_ALPACA_API_KEY
verify alpaca_api_key env:STAGING_ALPACA_API_KEY "$STAGING_ALPACA_KEY"

# ---------------------------------------------------------------------------------------------
step 5 "In Python: provenance, and a secret that does not print"
# Mixed sources on purpose: the key from a secrets folder, the rest from the environment.
write_secret "$STEP_DIR/secrets/alpaca-api-key" "$ALPACA_KEY"
put NOVA_SECRETS_DIR "$STEP_DIR/secrets"
put DISCORD_WEBHOOK_URL "$WEBHOOK_URL"
put TIMESCALE_PASSWORD "$DB_PASSWORD"
python_code=$(
  cat <<'EOF'
from nova_config import NovaSettings
s = NovaSettings()
print(s.source_of("alpaca_api_key"))
print(repr(s.alpaca_api_key))
print(s.alpaca_api_key)
EOF
)
run --show "python - <<'EOF'"$'\n'"$python_code"$'\n'"EOF" 0 python - <<<"$python_code"
said "files: $STEP_DIR/secrets/alpaca-api-key"
said "SecretStr('**********')"

# ---------------------------------------------------------------------------------------------
step 6 "Production fails fast"
say "-- 6a. Secrets only in a .env: production does not read .env files --"
cat >.env <<EOF
DISCORD_WEBHOOK_URL=$WEBHOOK_URL
TIMESCALE_PASSWORD=$DB_PASSWORD
ALPACA_API_KEY=$ALPACA_KEY
EOF
show_file .env
put NOVA_ENV production
run 1 nova-config check # must be refused: exit 1
said ".env files are not read in production"

say ""
say "-- 6b. ...unless it is asked for explicitly (it then warns) --"
put NOVA_ALLOW_DOTENV 1
run 0 nova-config check
row ALPACA_API_KEY dotenv "$STEP_DIR/.env:3"
unset NOVA_ALLOW_DOTENV
rm .env
say "\$ unset NOVA_ALLOW_DOTENV; rm .env"

say ""
say "-- 6c. A placeholder value: production (and staging) refuse it --"
put DISCORD_WEBHOOK_URL "$WEBHOOK_URL"
put TIMESCALE_PASSWORD changeme
put ALPACA_API_KEY "$ALPACA_KEY"
run 1 nova-config check # must be refused: exit 1
said "is a placeholder"

# ---------------------------------------------------------------------------------------------
say ""
say "== 7. No demo secret appears in the output above =="
# The log holds every line this tour printed: commands, tables, error messages, Python output.
leaked=()
for name in "${DEMO_SECRET_NAMES[@]}"; do
  if grep -qF -- "${!name}" "$LOG"; then
    leaked+=("$name")
  fi
done
((${#leaked[@]} == 0)) || fail "demo secret values appeared in the output: ${leaked[*]}"
lines=$(wc -l <"$LOG")
say "searched all $lines lines of output for the ${#DEMO_SECRET_NAMES[@]} demo secret values: none found"
say ""
say "walkthrough complete: every step behaved as expected"
