#!/usr/bin/env bash
#
# Generate the RSA key pair the services use for RS256 tokens: authen-service signs with the
# private key (JWT_PRIVATE_KEY) and author-service verifies with the public key (JWT_PUBLIC_KEY).
# See keys/README.md. Run with --help for the options.
set -euo pipefail

# shellcheck source=SCRIPTDIR/lib/common.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib/common.sh"

usage() {
    cat <<EOF
Usage: scripts/gen-keys.sh [--bits N] [--out-dir DIR] [--force]

Writes an RSA key pair for signing and verifying the services' RS256 tokens:
  DIR/private.pem   private key, PKCS#8 PEM ("BEGIN PRIVATE KEY"), mode 0600
  DIR/public.pem    public key, SubjectPublicKeyInfo PEM ("BEGIN PUBLIC KEY"), mode 0644

Options:
  --bits N       key size in bits (default 3072; at least 2048)
  --out-dir DIR  where to write (default: $PROJECT_ROOT/keys)
  --force        replace existing files; tokens signed with the old key stop being accepted
                 once authen-service and author-service restart with the new pair (to rotate
                 without logging anybody out, see "Rotate" in keys/README.md)
  -h, --help     show this help
EOF
}

bits=3072
out_dir="$PROJECT_ROOT/keys"
force=false

while (($# > 0)); do
    case "$1" in
        --bits | --out-dir)
            (($# >= 2)) || die "$1 needs a value (see --help)"
            if [[ "$1" == --bits ]]; then bits=$2; else out_dir=$2; fi
            shift 2
            ;;
        --bits=*) bits=${1#*=}; shift ;;
        --out-dir=*) out_dir=${1#*=}; shift ;;
        --force) force=true; shift ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
done

[[ "$bits" =~ ^[0-9]+$ ]] || die "--bits must be a whole number, got '$bits'"
bits=$((10#$bits)) # 10#: a leading zero must not make bash read the number as octal
if ((bits < 2048)); then
    die "--bits $bits is too small: RSA keys for RS256 need at least 2048 bits (the services refuse shorter ones)"
fi
[[ -n "$out_dir" ]] || die "--out-dir must not be empty"

require_cmd openssl mktemp

private="$out_dir/private.pem"
public="$out_dir/public.pem"

if ! $force; then
    existing=()
    for file in "$private" "$public"; do
        if [[ -e "$file" ]]; then
            existing+=("$file")
        fi
    done
    if ((${#existing[@]} > 0)); then
        die "refusing to overwrite ${existing[*]}; pass --force to replace the pair (tokens signed with the old key will then be refused)"
    fi
fi

mkdir -p -- "$out_dir"

# Nothing this script creates may be readable by others, even for a moment; the public key is
# opened up explicitly below.
umask 077

# Write to temporary files in the same directory, then rename into place: a reader never sees a
# half-written key, and an interrupted run leaves the old pair (or nothing) behind.
tmp_private=$(mktemp "$out_dir/.private.pem.XXXXXX")
tmp_public=$(mktemp "$out_dir/.public.pem.XXXXXX")
trap 'rm -f -- "$tmp_private" "$tmp_public"' EXIT

# genpkey writes PKCS#8 ("BEGIN PRIVATE KEY"). It prints progress dots on stderr, so its output
# is kept and shown only when it fails.
if ! output=$(openssl genpkey -algorithm RSA -pkeyopt "rsa_keygen_bits:$bits" -out "$tmp_private" 2>&1); then
    printf '%s\n' "$output" >&2
    die "openssl could not generate a $bits-bit RSA key"
fi
if ! output=$(openssl pkey -in "$tmp_private" -pubout -out "$tmp_public" 2>&1); then
    printf '%s\n' "$output" >&2
    die "openssl could not derive the public key"
fi

chmod 0600 "$tmp_private"
chmod 0644 "$tmp_public"
# The private key goes first: a public key without its private key is useless, the reverse can
# always be repaired by deriving the public key again.
mv -f -- "$tmp_private" "$private"
mv -f -- "$tmp_public" "$public"

info "wrote $private (RSA $bits-bit private key, PKCS#8 PEM, mode 0600)"
info "wrote $public (public key, SPKI PEM, mode 0644)"
info "keep private.pem secret and out of git; restart authen-service and author-service to use a new pair"
