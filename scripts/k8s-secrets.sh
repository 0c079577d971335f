#!/usr/bin/env bash
#
# Prepare the secrets that `kubectl apply -k deploy/kubernetes` turns into the Secrets jwt-keys and
# admin, in deploy/kubernetes/secrets/ (git-ignored). Run with --help for the options.
set -euo pipefail

# shellcheck source=SCRIPTDIR/lib/common.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib/common.sh"

usage() {
    cat <<EOF
Usage: scripts/k8s-secrets.sh [--keys-dir DIR] [--out-dir DIR] [--force]

Writes what deploy/kubernetes/kustomization.yaml generates its Secrets from:
  OUT/private.pem, OUT/public.pem   the RS256 key pair, copied from DIR (made there with
                                    scripts/gen-keys.sh if it has none); run again after a rotation
  OUT/admin.env                     ADMIN_USERNAME and ADMIN_PASSWORD, the administrator
                                    user-service makes at start; kept if it exists (see --force)

The administrator comes from the environment: ADMIN_USERNAME (default admin) and ADMIN_PASSWORD
(default: a random one, read it from OUT/admin.env). user-service never changes the password of an
administrator that already exists, so a new one here only takes effect on a fresh database.

Options:
  --keys-dir DIR  where the key pair is (default: $PROJECT_ROOT/keys)
  --out-dir DIR   where to write (default: $PROJECT_ROOT/deploy/kubernetes/secrets)
  --force         replace an existing admin.env
  -h, --help      show this help

Everything written is readable by its owner only, except public.pem. Never commit it.
EOF
}

keys_dir="$PROJECT_ROOT/keys"
out_dir="$PROJECT_ROOT/deploy/kubernetes/secrets"
force=false

while (($# > 0)); do
    case "$1" in
        --keys-dir | --out-dir)
            (($# >= 2)) || die "$1 needs a value (see --help)"
            if [[ "$1" == --keys-dir ]]; then keys_dir=$2; else out_dir=$2; fi
            shift 2
            ;;
        --keys-dir=*) keys_dir=${1#*=}; shift ;;
        --out-dir=*) out_dir=${1#*=}; shift ;;
        --force) force=true; shift ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
done

[[ -n "$keys_dir" && -n "$out_dir" ]] || die "--keys-dir and --out-dir must not be empty"
require_cmd openssl

admin_env="$out_dir/admin.env"
username=${ADMIN_USERNAME:-admin}
password=${ADMIN_PASSWORD:-}

# Check everything before writing anything. The rules are user-service's own (a bad administrator
# would stop it at start); kustomize reads the file line by line, so no line breaks either.
write_admin=true
if [[ -e "$admin_env" ]] && ! $force; then
    [[ -z "$password" ]] || die "$admin_env already exists; pass --force to replace it with ADMIN_PASSWORD"
    write_admin=false
else
    [[ "$username" =~ ^[A-Za-z0-9_.-]{3,32}$ ]] \
        || die "ADMIN_USERNAME must be 3 to 32 of A-Z, a-z, 0-9, '_', '.', '-'"
    if [[ -n "$password" ]]; then
        ((${#password} >= 8 && ${#password} <= 128)) || die "ADMIN_PASSWORD must be 8 to 128 characters"
        [[ "$password" != *$'\n'* && "$password" == "${password#[[:space:]]}" \
            && "$password" == "${password%[[:space:]]}" ]] \
            || die "ADMIN_PASSWORD must not hold a line break or begin or end with a space"
    fi
fi

if [[ ! -e "$keys_dir/private.pem" ]]; then
    info "no key pair in $keys_dir: making one"
    "$PROJECT_ROOT/scripts/gen-keys.sh" --out-dir "$keys_dir"
fi
[[ -r "$keys_dir/public.pem" ]] || die "$keys_dir/private.pem has no public.pem beside it; run scripts/gen-keys.sh --force --out-dir $keys_dir"

umask 077
mkdir -p -- "$out_dir"
install -m 0600 -- "$keys_dir/private.pem" "$out_dir/private.pem"
install -m 0644 -- "$keys_dir/public.pem" "$out_dir/public.pem"
info "copied the key pair from $keys_dir to $out_dir"

if $write_admin; then
    if [[ -z "$password" ]]; then
        # 18 random bytes: 24 base64 characters, no padding.
        password=$(openssl rand -base64 18)
    fi
    tmp=$(mktemp "$out_dir/.admin.env.XXXXXX")
    trap 'rm -f -- "$tmp"' EXIT
    printf 'ADMIN_USERNAME=%s\nADMIN_PASSWORD=%s\n' "$username" "$password" >"$tmp"
    mv -f -- "$tmp" "$admin_env"
    info "wrote $admin_env (administrator $username; the password is in that file)"
else
    info "kept $admin_env (pass --force to replace it)"
fi
info "now: kubectl apply -k deploy/kubernetes"
