#!/usr/bin/env bash
#
# Prepare the secrets that `kubectl apply -k deploy/kubernetes` turns into the Secrets jwt-keys,
# admin, otel-ca and otel-gateway-tls, in deploy/kubernetes/secrets/ (git-ignored); the production
# compose file mounts the same certificates. Run with --help for the options.
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
  OUT/otel-ca.pem, OUT/otel-ca-key.pem
                                    a private certificate authority (EC P-256, 10 years) that the
                                    services trust for the collector gateway, and nothing else
  OUT/otel-gateway.pem, OUT/otel-gateway-key.pem
                                    the gateway's server certificate (825 days), signed by that
                                    authority, for otel-gateway, otel-gateway.NAMESPACE.svc,
                                    otel-gateway.NAMESPACE.svc.cluster.local and localhost
  The four are kept if they all exist (see --force). To renew only the certificates, delete
  OUT/otel-*.pem and run again: the administrator is kept.

The administrator comes from the environment: ADMIN_USERNAME (default admin) and ADMIN_PASSWORD
(default: a random one, read it from OUT/admin.env). user-service never changes the password of an
administrator that already exists, so a new one here only takes effect on a fresh database.

Options:
  --keys-dir DIR  where the key pair is (default: $PROJECT_ROOT/keys)
  --out-dir DIR   where to write (default: $PROJECT_ROOT/deploy/kubernetes/secrets)
  --namespace NS  the Kubernetes namespace in the gateway's names (default blog-platform, as in
                  deploy/kubernetes/kustomization.yaml)
  --force         replace an existing admin.env and make a new authority and gateway certificate
  -h, --help      show this help

Everything written is readable by its owner only, except the public key and certificates
(public.pem, otel-ca.pem, otel-gateway.pem). Never commit any of it.
EOF
}

keys_dir="$PROJECT_ROOT/keys"
out_dir="$PROJECT_ROOT/deploy/kubernetes/secrets"
namespace=blog-platform
force=false

while (($# > 0)); do
    case "$1" in
        --keys-dir | --out-dir | --namespace)
            (($# >= 2)) || die "$1 needs a value (see --help)"
            case "$1" in
                --keys-dir) keys_dir=$2 ;;
                --out-dir) out_dir=$2 ;;
                *) namespace=$2 ;;
            esac
            shift 2
            ;;
        --keys-dir=*) keys_dir=${1#*=}; shift ;;
        --out-dir=*) out_dir=${1#*=}; shift ;;
        --namespace=*) namespace=${1#*=}; shift ;;
        --force) force=true; shift ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
done

[[ -n "$keys_dir" && -n "$out_dir" ]] || die "--keys-dir and --out-dir must not be empty"
# A DNS label, as Kubernetes requires of a namespace; it goes into a certificate's names.
[[ "$namespace" =~ ^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$ ]] || die "--namespace must be a DNS label, not '$namespace'"
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

# The collector gateway's TLS: the services trust only this authority (OTEL_EXPORTER_OTLP_CERTIFICATE),
# so a certificate from a public authority for the same name would not be accepted either.
tls_files=(otel-ca.pem otel-ca-key.pem otel-gateway.pem otel-gateway-key.pem)
have_tls=true
for file in "${tls_files[@]}"; do
    [[ -e "$out_dir/$file" ]] || have_tls=false
done
if $have_tls && ! $force; then
    info "kept the gateway's authority and certificate in $out_dir (pass --force, or delete otel-*.pem, to make new ones)"
else
    work=$(mktemp -d "$out_dir/.otel-tls.XXXXXX")
    trap 'rm -rf -- "$work"' EXIT
    # Written as configuration files rather than -addext, so that no default section of the
    # system's openssl.cnf adds or duplicates an extension.
    cat >"$work/ca.cnf" <<CNF
[req]
distinguished_name = dn
x509_extensions = ca
prompt = no
[dn]
CN = blog-platform collector CA
[ca]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
CNF
    cat >"$work/server.cnf" <<CNF
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:otel-gateway, DNS:otel-gateway.$namespace.svc, DNS:otel-gateway.$namespace.svc.cluster.local, DNS:localhost
CNF
    openssl req -x509 -config "$work/ca.cnf" -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$work/otel-ca-key.pem" -out "$work/otel-ca.pem" -days 3650 -sha256 2>/dev/null \
        || die "openssl could not make the authority"
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=otel-gateway \
        -keyout "$work/otel-gateway-key.pem" -out "$work/gateway.csr" 2>/dev/null \
        || die "openssl could not make the gateway's key"
    openssl x509 -req -in "$work/gateway.csr" -CA "$work/otel-ca.pem" -CAkey "$work/otel-ca-key.pem" \
        -set_serial "0x$(openssl rand -hex 16)" -days 825 -sha256 -extfile "$work/server.cnf" \
        -out "$work/otel-gateway.pem" 2>/dev/null \
        || die "openssl could not sign the gateway's certificate"
    # All four replace the old ones together: a certificate never sits beside another authority.
    install -m 0600 -- "$work/otel-ca-key.pem" "$out_dir/otel-ca-key.pem"
    install -m 0600 -- "$work/otel-gateway-key.pem" "$out_dir/otel-gateway-key.pem"
    install -m 0644 -- "$work/otel-ca.pem" "$out_dir/otel-ca.pem"
    install -m 0644 -- "$work/otel-gateway.pem" "$out_dir/otel-gateway.pem"
    rm -rf -- "$work"
    info "made the gateway's authority and certificate in $out_dir (names otel-gateway, otel-gateway.$namespace.svc[.cluster.local], localhost)"
fi
info "now: kubectl apply -k deploy/kubernetes"
