#!/usr/bin/env bash
# deploy.sh deploys the DMP DIY integration to a Google Cloud project: the
# Pub/Sub topics and subscriptions, the Firestore database, the secrets, two
# least-privilege service accounts, and the functions `diy` (HTTP endpoint
# the DMP calls) and `diy-forward` (Pub/Sub push target that calls Pangolin).
#
# Every step is idempotent: a second run creates nothing and fails on
# nothing. Run `./deploy.sh --help` for the settings, `--dry-run` for the plan.
set -Eeuo pipefail

PROG=deploy.sh
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# Settings. Every one is an environment variable; print_help lists them all.
DIY_PROJECT=${DIY_PROJECT:-}
DIY_REGION=${DIY_REGION:-europe-west1}
DIY_FUNCTION=${DIY_FUNCTION:-diy}
DIY_FORWARD_FUNCTION=${DIY_FORWARD_FUNCTION:-diy-forward}
DIY_TOPIC=${DIY_TOPIC:-diy-mutations}
DIY_DEAD_LETTER_TOPIC=${DIY_DEAD_LETTER_TOPIC:-diy-mutations-dead-letter}
DIY_DEAD_LETTER_SUBSCRIPTION=${DIY_DEAD_LETTER_SUBSCRIPTION:-diy-mutations-dead-letter-keep}
DIY_DEAD_LETTER_RETENTION=${DIY_DEAD_LETTER_RETENTION:-7d}
DIY_PUSH_SUBSCRIPTION=${DIY_PUSH_SUBSCRIPTION:-diy-mutations-forward}
DIY_MAX_DELIVERY_ATTEMPTS=${DIY_MAX_DELIVERY_ATTEMPTS:-20}
DIY_ACK_DEADLINE=${DIY_ACK_DEADLINE:-120}
DIY_MIN_RETRY_DELAY=${DIY_MIN_RETRY_DELAY:-10s}
DIY_MAX_RETRY_DELAY=${DIY_MAX_RETRY_DELAY:-600s}
DIY_RUNTIME_SA=${DIY_RUNTIME_SA:-diy-runtime}
DIY_FORWARD_SA=${DIY_FORWARD_SA:-diy-forward-runtime}
DIY_PUSH_SA=${DIY_PUSH_SA:-diy-push}
DIY_HMAC_SECRET_NAME=${DIY_HMAC_SECRET_NAME:-diy-hmac-secret}
DIY_HMAC_PREVIOUS_VERSION=${DIY_HMAC_PREVIOUS_VERSION:-}
DIY_BASIC_AUTH_SECRET_NAME=${DIY_BASIC_AUTH_SECRET_NAME:-diy-basic-auth-password}
DIY_PANGOLIN_KEY_SECRET=${DIY_PANGOLIN_KEY_SECRET:-pangolin-api-key}
DIY_PANGOLIN_CUSTOMERS=${DIY_PANGOLIN_CUSTOMERS:-}
DIY_MIN_INSTANCES=${DIY_MIN_INSTANCES:-1}
DIY_MAX_INSTANCES=${DIY_MAX_INSTANCES:-20}
DIY_CONCURRENCY=${DIY_CONCURRENCY:-80}
DIY_FORWARD_MIN_INSTANCES=${DIY_FORWARD_MIN_INSTANCES:-0}
DIY_FORWARD_MAX_INSTANCES=${DIY_FORWARD_MAX_INSTANCES:-10}
DIY_FORWARD_CONCURRENCY=${DIY_FORWARD_CONCURRENCY:-80}
DIY_BASIC_AUTH_USER=${DIY_BASIC_AUTH_USER:-}
DIY_RETURN_PLATFORM_ID=${DIY_RETURN_PLATFORM_ID:-true}
PANGOLIN_URL=${PANGOLIN_URL:-}
DIY_UNMAPPED_GRACE=${DIY_UNMAPPED_GRACE:-10m}
DIY_SOURCE_DIR=${DIY_SOURCE_DIR:-$SCRIPT_DIR}
DIY_GO_RUNTIME=${DIY_GO_RUNTIME:-}
DIY_FIRESTORE_LOCATION=${DIY_FIRESTORE_LOCATION:-$DIY_REGION}
DIY_IAM_ATTEMPTS=${DIY_IAM_ATTEMPTS:-6}
DIY_IAM_RETRY_DELAY=${DIY_IAM_RETRY_DELAY:-10}

# Secret values stay in this shell: no child process (gcloud included) gets
# them in its environment; add_secret_version sends them on stdin.
export -n DIY_HMAC_SECRET_VALUE DIY_BASIC_AUTH_PASSWORD_VALUE PANGOLIN_API_KEY_VALUE

# Fixed function sizing. Concurrency above 1 needs at least one CPU.
readonly DIY_TIMEOUT=60s FORWARD_TIMEOUT=300s MEMORY=256Mi CPU=1
readonly APIS=(
  cloudfunctions.googleapis.com run.googleapis.com cloudbuild.googleapis.com
  artifactregistry.googleapis.com pubsub.googleapis.com firestore.googleapis.com
  secretmanager.googleapis.com iam.googleapis.com cloudresourcemanager.googleapis.com
)

DRY_RUN=0
PROJECT=""
PROJECT_NUMBER=""
RUNTIME=""
CAPTURED=""
QUOTED=""

print_help() {
  local runtime_default="derived from go.mod"
  if [[ -f $DIY_SOURCE_DIR/go.mod ]]; then
    runtime_default+=" (now: $(runtime_from_go_mod 2>/dev/null || echo '?'))"
  fi
  cat <<EOF
Usage: ./$PROG [--dry-run] [-h|--help]

Deploys the DMP DIY integration to Google Cloud with the gcloud CLI. Safe to
run again: existing resources are kept, functions are redeployed, the push
subscription's settings are updated.

  --dry-run   print every command (one per line, shell-quoted) instead of
              running it; needs neither gcloud nor network
  -h, --help  print this help

Settings (environment variables; default in brackets):

Project and source
  DIY_PROJECT                   [gcloud config get-value project] project ID
                                (dry run without it: my-project)
  DIY_REGION                    [europe-west1] region of the functions
  DIY_FIRESTORE_LOCATION        [\$DIY_REGION] location of a new Firestore database
  DIY_SOURCE_DIR                [directory of deploy.sh] module root to deploy
  DIY_GO_RUNTIME                [$runtime_default]
                                Cloud Functions Go runtime, e.g. go125

Functions
  DIY_FUNCTION                  [diy] HTTP function the DMP calls (public; HMAC protects it)
  DIY_FORWARD_FUNCTION          [diy-forward] push target that calls Pangolin (private)
  DIY_MIN_INSTANCES             [1] warm instances of diy (cold starts vs. 1 s/3 s targets)
  DIY_MAX_INSTANCES             [20] instance cap of diy
  DIY_CONCURRENCY               [80] requests per diy instance
  DIY_FORWARD_MIN_INSTANCES     [0] warm instances of diy-forward
  DIY_FORWARD_MAX_INSTANCES     [10] instance cap of diy-forward (bounds load on Pangolin)
  DIY_FORWARD_CONCURRENCY       [80] push requests per diy-forward instance

Behaviour of the functions
  PANGOLIN_URL                  [none: required] Pangolin API base URL
  DIY_BASIC_AUTH_USER           [empty: Basic Auth off] user the DMP must send
  DIY_RETURN_PLATFORM_ID        [true] CREATE_AUDIENCE answers with the Pangolin ID
  DIY_UNMAPPED_GRACE            [10m] how long diy-forward retries an unmapped audience

Pub/Sub
  DIY_TOPIC                     [diy-mutations] topic diy publishes to
  DIY_DEAD_LETTER_TOPIC         [diy-mutations-dead-letter] topic of undeliverable messages
  DIY_DEAD_LETTER_SUBSCRIPTION  [diy-mutations-dead-letter-keep] pull subscription keeping them
  DIY_DEAD_LETTER_RETENTION     [7d] how long dead letters are kept
  DIY_PUSH_SUBSCRIPTION         [diy-mutations-forward] ordered push subscription to diy-forward
  DIY_ACK_DEADLINE              [120] seconds Pub/Sub waits for diy-forward to answer
  DIY_MIN_RETRY_DELAY           [10s] first redelivery delay (exponential backoff)
  DIY_MAX_RETRY_DELAY           [600s] longest redelivery delay
  DIY_MAX_DELIVERY_ATTEMPTS     [20] deliveries before a message is dead-lettered (5..100)

Identities
  DIY_RUNTIME_SA                [diy-runtime] service account diy runs as
  DIY_FORWARD_SA                [diy-forward-runtime] service account diy-forward runs as
  DIY_PUSH_SA                   [diy-push] identity of the push subscription's OIDC token
  DIY_IAM_ATTEMPTS              [6] tries of each IAM binding (new accounts propagate slowly)
  DIY_IAM_RETRY_DELAY           [10] seconds between those tries

Secrets (Secret Manager)
  DIY_HMAC_SECRET_NAME          [diy-hmac-secret] secret shared with the DMP
  DIY_HMAC_PREVIOUS_VERSION     [empty] during a rotation: version number of the old
                                HMAC secret that diy still accepts
  DIY_BASIC_AUTH_SECRET_NAME    [diy-basic-auth-password] Basic Auth password (if user set)
  DIY_PANGOLIN_KEY_SECRET       [pangolin-api-key] default Pangolin API key secret; the
                                functions may read it and every <that>-<anything>
  DIY_PANGOLIN_CUSTOMERS        [empty] space-separated DMP customer IDs whose own key
                                secrets (<DIY_PANGOLIN_KEY_SECRET>-<id>) are created empty

Secret values (optional; read from the environment, sent on stdin, never printed).
A value is added as a new version when the secret has none or holds another value.
  DIY_HMAC_SECRET_VALUE         [unset] value of DIY_HMAC_SECRET_NAME (required once)
  DIY_BASIC_AUTH_PASSWORD_VALUE [unset] value of DIY_BASIC_AUTH_SECRET_NAME
  PANGOLIN_API_KEY_VALUE        [unset] value of DIY_PANGOLIN_KEY_SECRET
EOF
}

# --- output and error handling ----------------------------------------------

note() { printf '%s\n' "$*" >&2; }

die() {
  printf '%s: %s\n' "$PROG" "$1" >&2
  shift
  local line
  for line in "$@"; do printf '  %s\n' "$line" >&2; done
  exit 1
}

# quote_word sets QUOTED to its argument written so that a POSIX shell reads
# it back as one word: unchanged when it holds only safe characters, else
# single-quoted.
quote_word() {
  local safe='^[A-Za-z0-9_./:=@,+%-]+$'
  if [[ $1 =~ $safe ]]; then
    QUOTED=$1
  else
    QUOTED="'${1//\'/\'\\\'\'}'"
  fi
}

# quote_cmd sets QUOTED to a command line; a flag's value is quoted apart
# from its name (--format='value(name)') so the line stays readable.
quote_cmd() {
  local arg name flag='^(--[A-Za-z0-9-]+=)(.*)$' out=()
  for arg in "$@"; do
    name=""
    if [[ $arg =~ $flag ]]; then
      name=${BASH_REMATCH[1]}
      arg=${BASH_REMATCH[2]}
    fi
    quote_word "$arg"
    out+=("$name$QUOTED")
  done
  QUOTED=${out[*]}
}

fail() {
  local desc=$1 rc=$2
  shift 2
  quote_cmd "$@"
  printf '%s: step "%s" failed (exit %d): %s\n' "$PROG" "$desc" "$rc" "$QUOTED" >&2
  exit "$rc"
}

on_error() {
  printf '%s: failed (exit %d) at line %d: %s\n' "$PROG" "$1" "$2" "$3" >&2
  exit "$1"
}
trap 'on_error $? $LINENO "$BASH_COMMAND"' ERR

# --- running commands ---------------------------------------------------------

# step DESCRIPTION COMMAND...: runs COMMAND with its output on stderr (in a
# dry run: prints it); a failure stops the script naming the step.
step() {
  local desc=$1 rc=0
  shift
  if ((DRY_RUN)); then
    quote_cmd "$@"
    printf '%s\n' "$QUOTED"
    return 0
  fi
  note "==> $desc"
  "$@" >&2 || rc=$?
  ((rc == 0)) || fail "$desc" "$rc" "$@"
}

# capture DESCRIPTION COMMAND...: runs COMMAND and keeps its output in
# CAPTURED; a failure stops the script. Never used in a dry run.
capture() {
  local desc=$1 rc=0 out
  shift
  out=$("$@") || rc=$?
  ((rc == 0)) || fail "$desc" "$rc" "$@"
  CAPTURED=$out
}

# ensure DESCRIPTION CHECK... -- CREATE...: runs CREATE when CHECK fails.
# CHECK's output and failure are silent: any failure means "create it".
ensure() {
  local desc=$1 check=() create=()
  shift
  while (($#)) && [[ $1 != -- ]]; do check+=("$1"); shift; done
  shift
  create=("$@")
  if ((DRY_RUN)); then
    quote_cmd "${check[@]}"
    check=("$QUOTED")
    quote_cmd "${create[@]}"
    printf '%s >/dev/null 2>&1 || %s\n' "${check[0]}" "$QUOTED"
    return 0
  fi
  if "${check[@]}" >/dev/null 2>&1; then
    note "==> $desc: exists"
    return 0
  fi
  step "$desc" "${create[@]}"
}

# grant DESCRIPTION COMMAND...: an add-*-policy-binding, idempotent by
# nature. Tried DIY_IAM_ATTEMPTS times because a new service account or
# service agent takes a while to be visible to IAM.
grant() {
  local desc=$1 attempt=1 rc=0
  shift
  if ((DRY_RUN)); then
    step "$desc" "$@"
    return 0
  fi
  note "==> $desc"
  while :; do
    rc=0
    "$@" >/dev/null || rc=$?
    ((rc == 0)) && return 0
    ((attempt < DIY_IAM_ATTEMPTS)) || fail "$desc" "$rc" "$@"
    note "    retrying in ${DIY_IAM_RETRY_DELAY}s (attempt $attempt of $DIY_IAM_ATTEMPTS failed)"
    sleep "$DIY_IAM_RETRY_DELAY"
    attempt=$((attempt + 1))
  done
}

# add_secret_version DESCRIPTION VALUE_VARIABLE COMMAND...: runs COMMAND
# with the value of VALUE_VARIABLE on stdin. The value never appears in a
# command line or in output.
add_secret_version() {
  local desc=$1 var=$2 rc=0
  shift 2
  if ((DRY_RUN)); then
    quote_cmd "$@"
    printf '<value from %s> | %s\n' "$var" "$QUOTED"
    return 0
  fi
  note "==> $desc"
  "$@" < <(printf '%s' "${!var}") >&2 || rc=$?
  ((rc == 0)) || fail "$desc" "$rc" "$@"
}

# --- settings -------------------------------------------------------------------

parse_args() {
  while (($#)); do
    case $1 in
      -h | --help) print_help; exit 0 ;;
      --dry-run) DRY_RUN=1 ;;
      *) note "$PROG: unknown argument: $1 (try --help)"; exit 2 ;;
    esac
    shift
  done
}

# runtime_from_go_mod turns go.mod's `go 1.26.0` line into `go126`.
runtime_from_go_mod() {
  local mod=$DIY_SOURCE_DIR/go.mod line version='^go[[:space:]]+([0-9]+)\.([0-9]+)'
  [[ -f $mod ]] || return 1
  while IFS= read -r line || [[ -n $line ]]; do
    if [[ $line =~ $version ]]; then
      printf 'go%s%s' "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
      return 0
    fi
  done <"$mod"
  return 1
}

resolve_project() {
  if [[ -n $DIY_PROJECT ]]; then
    PROJECT=$DIY_PROJECT
  elif ((DRY_RUN)); then
    PROJECT=my-project
    note "note: DIY_PROJECT is unset; the plan uses the placeholder project \"my-project\"."
  else
    PROJECT=$(gcloud config get-value project 2>/dev/null || true)
    [[ -n $PROJECT && $PROJECT != "(unset)" ]] ||
      die "no project: set DIY_PROJECT or run: gcloud config set project PROJECT_ID"
  fi
}

resolve_runtime() {
  RUNTIME=$DIY_GO_RUNTIME
  if [[ -z $RUNTIME ]]; then
    RUNTIME=$(runtime_from_go_mod) ||
      die "cannot derive the Go runtime from $DIY_SOURCE_DIR/go.mod" \
        "set DIY_GO_RUNTIME (e.g. go125)"
  fi
}

require_count() {
  local name=$1
  [[ ${!name} =~ ^[0-9]+$ ]] || die "$name must be a whole number, not \"${!name}\""
  printf -v "$name" '%d' "$((10#${!name}))" # 08 is eight, not a bad octal number
}

validate_settings() {
  [[ -n $PANGOLIN_URL ]] || die "PANGOLIN_URL is required (the Pangolin API base URL)"
  local name
  for name in DIY_MIN_INSTANCES DIY_MAX_INSTANCES DIY_CONCURRENCY DIY_FORWARD_MIN_INSTANCES \
    DIY_FORWARD_MAX_INSTANCES DIY_FORWARD_CONCURRENCY DIY_MAX_DELIVERY_ATTEMPTS \
    DIY_ACK_DEADLINE DIY_IAM_ATTEMPTS DIY_IAM_RETRY_DELAY; do
    require_count "$name"
  done
  ((DIY_MAX_DELIVERY_ATTEMPTS >= 5 && DIY_MAX_DELIVERY_ATTEMPTS <= 100)) ||
    die "DIY_MAX_DELIVERY_ATTEMPTS must be between 5 and 100 (a Pub/Sub limit)"
  ((DIY_ACK_DEADLINE >= 10 && DIY_ACK_DEADLINE <= 600)) ||
    die "DIY_ACK_DEADLINE must be between 10 and 600 seconds (a Pub/Sub limit)"
  # --set-env-vars separates variables with commas.
  for name in PANGOLIN_URL DIY_BASIC_AUTH_USER DIY_RETURN_PLATFORM_ID DIY_UNMAPPED_GRACE; do
    [[ ${!name} != *,* ]] || die "$name must not contain a comma"
  done
  [[ $DIY_RETURN_PLATFORM_ID == true || $DIY_RETURN_PLATFORM_ID == false ]] ||
    die "DIY_RETURN_PLATFORM_ID must be true or false"
  [[ -z $DIY_HMAC_PREVIOUS_VERSION ]] || require_count DIY_HMAC_PREVIOUS_VERSION
  [[ $DIY_PANGOLIN_CUSTOMERS =~ ^[0-9[:space:]]*$ ]] ||
    die "DIY_PANGOLIN_CUSTOMERS must hold DMP customer IDs (digits) separated by spaces"
  # A secret ID; it also goes into the quoted string of an IAM condition.
  [[ $DIY_PANGOLIN_KEY_SECRET =~ ^[A-Za-z0-9_-]{1,254}$ ]] ||
    die "DIY_PANGOLIN_KEY_SECRET must be a secret ID: 1 to 254 letters, digits, - or _"
}

runtime_email() { printf '%s@%s.iam.gserviceaccount.com' "$DIY_RUNTIME_SA" "$PROJECT"; }
forward_email() { printf '%s@%s.iam.gserviceaccount.com' "$DIY_FORWARD_SA" "$PROJECT"; }
push_email() { printf '%s@%s.iam.gserviceaccount.com' "$DIY_PUSH_SA" "$PROJECT"; }
pubsub_agent() {
  printf 'service-%s@gcp-sa-pubsub.iam.gserviceaccount.com' "$PROJECT_NUMBER"
}

# --- steps ------------------------------------------------------------------------

enable_apis() {
  step "enable the APIs" gcloud services enable "${APIS[@]}" --project="$PROJECT"
}

find_project_number() {
  step_capture "read the project number" "<project number>" \
    gcloud projects describe "$PROJECT" --format='value(projectNumber)'
  PROJECT_NUMBER=$CAPTURED
}

# step_capture DESCRIPTION PLACEHOLDER COMMAND...: capture, or in a dry run
# print COMMAND and set CAPTURED to PLACEHOLDER.
step_capture() {
  local desc=$1 placeholder=$2
  shift 2
  if ((DRY_RUN)); then
    step "$desc" "$@"
    CAPTURED=$placeholder
    return 0
  fi
  capture "$desc" "$@"
}

create_topics() {
  local topic
  for topic in "$DIY_TOPIC" "$DIY_DEAD_LETTER_TOPIC"; do
    ensure "create topic $topic" \
      gcloud pubsub topics describe "$topic" --project="$PROJECT" -- \
      gcloud pubsub topics create "$topic" --project="$PROJECT"
  done
  # Without a subscription of its own, a dead letter would be dropped.
  ensure "create subscription $DIY_DEAD_LETTER_SUBSCRIPTION keeping dead letters" \
    gcloud pubsub subscriptions describe "$DIY_DEAD_LETTER_SUBSCRIPTION" --project="$PROJECT" -- \
    gcloud pubsub subscriptions create "$DIY_DEAD_LETTER_SUBSCRIPTION" \
    --topic="$DIY_DEAD_LETTER_TOPIC" --message-retention-duration="$DIY_DEAD_LETTER_RETENTION" \
    --expiration-period=never --project="$PROJECT"
}

create_firestore() {
  local desc="create the Firestore database (native mode)"
  local check=(gcloud firestore databases describe --database='(default)' --project="$PROJECT")
  local create=(gcloud firestore databases create --database='(default)'
    --location="$DIY_FIRESTORE_LOCATION" --type=firestore-native --project="$PROJECT")
  if ((DRY_RUN)); then
    ensure "$desc" "${check[@]}" -- "${create[@]}"
    return 0
  fi
  local type
  if ! type=$("${check[@]}" --format='value(type)' 2>/dev/null); then
    step "$desc" "${create[@]}"
    return 0
  fi
  [[ $type == FIRESTORE_NATIVE ]] ||
    die "the project's (default) Firestore database is in mode \"$type\"; the functions need" \
      "native mode. Switch it to native mode (possible only while it holds no data) or use" \
      "another project."
  note "==> $desc: exists"
}

ensure_secret() {
  ensure "create secret $1" \
    gcloud secrets describe "$1" --project="$PROJECT" -- \
    gcloud secrets create "$1" --replication-policy=automatic --project="$PROJECT"
}

# secret_has_version NAME: whether NAME has an enabled version.
secret_has_version() {
  capture "list enabled versions of secret $1" gcloud secrets versions list "$1" \
    --filter=state:enabled --limit=1 --format='value(name)' --project="$PROJECT"
  [[ -n $CAPTURED ]]
}

# secret_holds NAME VALUE_VARIABLE: whether NAME's latest version holds the
# value of VALUE_VARIABLE. The value read stays in this function.
secret_holds() {
  local current rc=0
  current=$(gcloud secrets versions access latest --secret="$1" --project="$PROJECT") || rc=$?
  ((rc == 0)) || fail "read secret $1 to compare it" "$rc" \
    gcloud secrets versions access latest --secret="$1" --project="$PROJECT"
  [[ $current == "${!2}" ]]
}

# fill_secret NAME VALUE_VARIABLE: adds the value of VALUE_VARIABLE as a
# version of NAME when it is set and NAME does not hold it yet. Returns 1
# when NAME is left without an enabled version.
fill_secret() {
  local name=$1 var=$2
  local add=(gcloud secrets versions add "$name" --data-file=- --project="$PROJECT")
  if ((DRY_RUN)); then
    [[ -z ${!var:-} ]] || add_secret_version "add a version to secret $name" "$var" "${add[@]}"
    return 0
  fi
  if ! secret_has_version "$name"; then
    [[ -n ${!var:-} ]] || return 1
    add_secret_version "add the value of $var to secret $name" "$var" "${add[@]}"
  elif [[ -n ${!var:-} ]] && ! secret_holds "$name" "$var"; then
    add_secret_version "add the new value of $var to secret $name" "$var" "${add[@]}"
  fi
  return 0
}

missing_secret() {
  local name=$1 var=$2
  die "secret \"$name\" has no enabled version. Add one, then run $PROG again:" \
    "$var='...' ./$PROG" \
    "or: printf '%s' '...' | gcloud secrets versions add $name --data-file=- --project=$PROJECT"
}

create_secrets() {
  ensure_secret "$DIY_HMAC_SECRET_NAME"
  if ! fill_secret "$DIY_HMAC_SECRET_NAME" DIY_HMAC_SECRET_VALUE; then
    missing_secret "$DIY_HMAC_SECRET_NAME" DIY_HMAC_SECRET_VALUE
  fi
  if ((DRY_RUN)) && [[ -z ${DIY_HMAC_SECRET_VALUE:-} ]]; then
    note "note: a real run stops here unless $DIY_HMAC_SECRET_NAME already has a version" \
      "(set DIY_HMAC_SECRET_VALUE to add one)."
  fi

  if [[ -n $DIY_BASIC_AUTH_USER ]]; then
    ensure_secret "$DIY_BASIC_AUTH_SECRET_NAME"
    if ! fill_secret "$DIY_BASIC_AUTH_SECRET_NAME" DIY_BASIC_AUTH_PASSWORD_VALUE; then
      missing_secret "$DIY_BASIC_AUTH_SECRET_NAME" DIY_BASIC_AUTH_PASSWORD_VALUE
    fi
  fi

  ensure_secret "$DIY_PANGOLIN_KEY_SECRET"
  if ! fill_secret "$DIY_PANGOLIN_KEY_SECRET" PANGOLIN_API_KEY_VALUE; then
    note "warning: secret $DIY_PANGOLIN_KEY_SECRET has no version: customers without a key" \
      "secret of their own cannot be served until one is added (PANGOLIN_API_KEY_VALUE)."
  fi
  local customer
  for customer in $DIY_PANGOLIN_CUSTOMERS; do
    ensure_secret "$DIY_PANGOLIN_KEY_SECRET-$customer"
  done
}

create_service_accounts() {
  ensure "create service account $DIY_RUNTIME_SA" \
    gcloud iam service-accounts describe "$(runtime_email)" --project="$PROJECT" -- \
    gcloud iam service-accounts create "$DIY_RUNTIME_SA" \
    --display-name="DMP DIY endpoint runtime" --project="$PROJECT"
  ensure "create service account $DIY_FORWARD_SA" \
    gcloud iam service-accounts describe "$(forward_email)" --project="$PROJECT" -- \
    gcloud iam service-accounts create "$DIY_FORWARD_SA" \
    --display-name="DMP DIY forwarder runtime" --project="$PROJECT"
  ensure "create service account $DIY_PUSH_SA" \
    gcloud iam service-accounts describe "$(push_email)" --project="$PROJECT" -- \
    gcloud iam service-accounts create "$DIY_PUSH_SA" \
    --display-name="DMP DIY Pub/Sub push identity" --project="$PROJECT"
}

# secret_names lists the secrets diy reads through --set-secrets; each gets
# its own grant. The Pangolin keys are covered by grant_mappings_and_keys.
secret_names() {
  printf '%s\n' "$DIY_HMAC_SECRET_NAME"
  [[ -z $DIY_BASIC_AUTH_USER ]] || printf '%s\n' "$DIY_BASIC_AUTH_SECRET_NAME"
}

# key_condition prints the IAM condition (gcloud's --condition value) that
# limits each runtime account's project secretAccessor grant to the Pangolin key
# secrets: BASE, BASE-<anything>, and their versions. IAM names secrets with
# the project number. validate_settings keeps commas and quotes out of BASE.
key_condition() {
  local key=$DIY_PANGOLIN_KEY_SECRET
  local name="projects/$PROJECT_NUMBER/secrets/$key"
  local expr="resource.name == \"$name\""
  expr+=" || resource.name.startsWith(\"$name/\")"
  expr+=" || resource.name.startsWith(\"$name-\")"
  printf 'expression=%s,title=diy-pangolin-keys,description=%s' "$expr" \
    "Pangolin API keys read by the DMP DIY functions: secret $key and every secret $key-*"
}

# sa_member ACCOUNT prints the IAM member of a service account of the project.
sa_member() { printf 'serviceAccount:%s@%s.iam.gserviceaccount.com' "$1" "$PROJECT"; }

# grant_publisher ACCOUNT TOPIC lets a function's account publish to TOPIC.
grant_publisher() {
  grant "let $1 publish to $2" \
    gcloud pubsub topics add-iam-policy-binding "$2" --member="$(sa_member "$1")" \
    --role=roles/pubsub.publisher --project="$PROJECT"
}

# grant_mappings_and_keys ACCOUNT lets a function's account use Firestore,
# where the audience mappings are, and read every Pangolin key secret,
# present and future. The key grant is on the project so that reading a
# customer secret that does not exist answers NOT_FOUND and the functions
# use the default key; with grants on single secrets it answers
# PERMISSION_DENIED.
grant_mappings_and_keys() {
  local account=$1 key=$DIY_PANGOLIN_KEY_SECRET
  grant "let $account use Firestore" \
    gcloud projects add-iam-policy-binding "$PROJECT" --member="$(sa_member "$account")" \
    --role=roles/datastore.user --condition=None
  grant "let $account read the secrets $key and $key-*" \
    gcloud projects add-iam-policy-binding "$PROJECT" --member="$(sa_member "$account")" \
    --role=roles/secretmanager.secretAccessor --condition="$(key_condition)"
}

# grant_runtime_roles gives each function's account what that function
# needs and nothing the other one needs: diy queues calls, reads its
# secrets and creates audiences; diy-forward applies the calls and parks
# what it cannot apply.
grant_runtime_roles() {
  local secret
  grant_publisher "$DIY_RUNTIME_SA" "$DIY_TOPIC"
  grant_mappings_and_keys "$DIY_RUNTIME_SA"
  while IFS= read -r secret; do
    grant "let $DIY_RUNTIME_SA read secret $secret" \
      gcloud secrets add-iam-policy-binding "$secret" --member="$(sa_member "$DIY_RUNTIME_SA")" \
      --role=roles/secretmanager.secretAccessor --project="$PROJECT"
  done < <(secret_names)
  grant_publisher "$DIY_FORWARD_SA" "$DIY_DEAD_LETTER_TOPIC"
  grant_mappings_and_keys "$DIY_FORWARD_SA"
}

grant_pubsub_agent_roles() {
  local member
  member="serviceAccount:$(pubsub_agent)"
  grant "let the Pub/Sub service agent publish dead letters to $DIY_DEAD_LETTER_TOPIC" \
    gcloud pubsub topics add-iam-policy-binding "$DIY_DEAD_LETTER_TOPIC" --member="$member" \
    --role=roles/pubsub.publisher --project="$PROJECT"
  grant "let the Pub/Sub service agent sign push tokens as $DIY_PUSH_SA" \
    gcloud iam service-accounts add-iam-policy-binding "$(push_email)" --member="$member" \
    --role=roles/iam.serviceAccountTokenCreator --project="$PROJECT"
}

deploy_forward() {
  local env="GOOGLE_CLOUD_PROJECT=$PROJECT,DIY_DEAD_LETTER_TOPIC=$DIY_DEAD_LETTER_TOPIC"
  env+=",PANGOLIN_URL=$PANGOLIN_URL,DIY_PANGOLIN_KEY_SECRET=$DIY_PANGOLIN_KEY_SECRET"
  env+=",DIY_UNMAPPED_GRACE=$DIY_UNMAPPED_GRACE"
  step "deploy function $DIY_FORWARD_FUNCTION" \
    gcloud functions deploy "$DIY_FORWARD_FUNCTION" --gen2 --region="$DIY_REGION" \
    --runtime="$RUNTIME" --source=. --entry-point=forward --trigger-http \
    --no-allow-unauthenticated --service-account="$(forward_email)" \
    --timeout="$FORWARD_TIMEOUT" --memory="$MEMORY" --cpu="$CPU" \
    --concurrency="$DIY_FORWARD_CONCURRENCY" --min-instances="$DIY_FORWARD_MIN_INSTANCES" \
    --max-instances="$DIY_FORWARD_MAX_INSTANCES" --set-env-vars="$env" --project="$PROJECT"
  grant "let $DIY_PUSH_SA invoke $DIY_FORWARD_FUNCTION" \
    gcloud functions add-invoker-policy-binding "$DIY_FORWARD_FUNCTION" --region="$DIY_REGION" \
    --member="serviceAccount:$(push_email)" --project="$PROJECT"
}

function_url() {
  step_capture "read the URL of function $1" "<$1 URL>" \
    gcloud functions describe "$1" --gen2 --region="$DIY_REGION" \
    --format='value(serviceConfig.uri)' --project="$PROJECT"
  CAPTURED=${CAPTURED%/}
}

# ensure_push_subscription creates the ordered push subscription to the
# forwarder or, when it exists, brings its other settings up to date.
ensure_push_subscription() {
  function_url "$DIY_FORWARD_FUNCTION"
  local url=$CAPTURED sub=$DIY_PUSH_SUBSCRIPTION
  local settings=(--push-endpoint="$url"
    --push-auth-service-account="$(push_email)" --push-auth-token-audience="$url"
    --ack-deadline="$DIY_ACK_DEADLINE" --min-retry-delay="$DIY_MIN_RETRY_DELAY"
    --max-retry-delay="$DIY_MAX_RETRY_DELAY" --dead-letter-topic="$DIY_DEAD_LETTER_TOPIC"
    --max-delivery-attempts="$DIY_MAX_DELIVERY_ATTEMPTS" --expiration-period=never
    --project="$PROJECT")
  local create=(gcloud pubsub subscriptions create "$sub" --topic="$DIY_TOPIC"
    --enable-message-ordering "${settings[@]}")
  local check=(gcloud pubsub subscriptions describe "$sub" --project="$PROJECT")
  if ((DRY_RUN)); then
    ensure "create push subscription $sub" "${check[@]}" -- "${create[@]}"
  else
    local found
    if found=$("${check[@]}" --format='value(topic,enableMessageOrdering)' 2>/dev/null); then
      check_push_subscription "$found"
      step "update push subscription $sub" \
        gcloud pubsub subscriptions update "$sub" "${settings[@]}"
    else
      step "create push subscription $sub" "${create[@]}"
    fi
  fi
  grant "let the Pub/Sub service agent forward dead letters from $sub" \
    gcloud pubsub subscriptions add-iam-policy-binding "$sub" \
    --member="serviceAccount:$(pubsub_agent)" --role=roles/pubsub.subscriber --project="$PROJECT"
}

# check_push_subscription stops when the existing subscription cannot be
# updated into the wanted one: its topic and ordering are fixed at creation.
check_push_subscription() {
  local topic ordering want="projects/$PROJECT/topics/$DIY_TOPIC"
  IFS=$'\t' read -r topic ordering <<<"$1"
  [[ $topic == "$want" ]] ||
    die "subscription $DIY_PUSH_SUBSCRIPTION exists on topic \"$topic\", not $want." \
      "Set DIY_PUSH_SUBSCRIPTION to another name, or delete it and run $PROG again."
  [[ $ordering == [Tt]rue ]] ||
    die "subscription $DIY_PUSH_SUBSCRIPTION exists without message ordering, which cannot be" \
      "turned on after creation. Let it drain, delete it, and run $PROG again:" \
      "gcloud pubsub subscriptions delete $DIY_PUSH_SUBSCRIPTION --project=$PROJECT"
}

deploy_diy() {
  local env="GOOGLE_CLOUD_PROJECT=$PROJECT,DIY_TOPIC=$DIY_TOPIC,PANGOLIN_URL=$PANGOLIN_URL"
  env+=",DIY_RETURN_PLATFORM_ID=$DIY_RETURN_PLATFORM_ID"
  env+=",DIY_PANGOLIN_KEY_SECRET=$DIY_PANGOLIN_KEY_SECRET"
  local secrets="DIY_HMAC_SECRET=$DIY_HMAC_SECRET_NAME:latest"
  if [[ -n $DIY_HMAC_PREVIOUS_VERSION ]]; then
    secrets+=",DIY_HMAC_SECRET_PREVIOUS=$DIY_HMAC_SECRET_NAME:$DIY_HMAC_PREVIOUS_VERSION"
  fi
  if [[ -n $DIY_BASIC_AUTH_USER ]]; then
    env+=",DIY_BASIC_AUTH_USER=$DIY_BASIC_AUTH_USER"
    secrets+=",DIY_BASIC_AUTH_PASSWORD=$DIY_BASIC_AUTH_SECRET_NAME:latest"
  fi
  # Public: the DMP cannot present Google credentials; HMAC protects it.
  step "deploy function $DIY_FUNCTION" \
    gcloud functions deploy "$DIY_FUNCTION" --gen2 --region="$DIY_REGION" \
    --runtime="$RUNTIME" --source=. --entry-point=diy --trigger-http \
    --allow-unauthenticated --service-account="$(runtime_email)" \
    --timeout="$DIY_TIMEOUT" --memory="$MEMORY" --cpu="$CPU" \
    --concurrency="$DIY_CONCURRENCY" --min-instances="$DIY_MIN_INSTANCES" \
    --max-instances="$DIY_MAX_INSTANCES" --set-env-vars="$env" --set-secrets="$secrets" \
    --project="$PROJECT"
}

print_summary() {
  function_url "$DIY_FUNCTION"
  if ((DRY_RUN)); then
    note "dry run: nothing was changed. Commands run from $DIY_SOURCE_DIR" \
      "with CLOUDSDK_CORE_DISABLE_PROMPTS=1."
    return 0
  fi
  cat <<EOF

Deployed. Paste this URL into the DMP's integration settings:

  $CAPTURED

Share the HMAC secret (Secret Manager: $DIY_HMAC_SECRET_NAME in $PROJECT) with the DMP:
it signs every call with it. After changing the secret, run $PROG again so that
new instances read the new version.
EOF
}

main() {
  parse_args "$@"
  validate_settings
  if ((!DRY_RUN)); then
    command -v gcloud >/dev/null ||
      die "gcloud not found: install the Google Cloud CLI, or use --dry-run to see the plan"
  fi
  resolve_project
  resolve_runtime
  cd "$DIY_SOURCE_DIR"
  export CLOUDSDK_CORE_DISABLE_PROMPTS=1

  enable_apis
  find_project_number
  create_topics
  create_firestore
  create_secrets
  create_service_accounts
  grant_runtime_roles
  grant_pubsub_agent_roles
  deploy_forward
  ensure_push_subscription
  deploy_diy
  print_summary
}

main "$@"
