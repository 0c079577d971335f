//! The RSA keys behind the access tokens, as the settings name them.
//!
//! - `JWT_PUBLIC_KEY` ([`PublicKeys`]): one PEM file or several separated by commas, each with one
//!   or more public keys. author-service accepts a token of any of them and authen-service's JWKS
//!   lists them all, so a key can be rotated without refusing the tokens already out
//!   (keys/README.md).
//! - `JWT_PRIVATE_KEY` ([`SigningKey`]): authen-service's one private key, whose public half must
//!   be among the public keys.
//!
//! Every key is checked at start: a malformed one, or one under [`MIN_RSA_BITS`], stops the process
//! with one line naming the variable. `jsonwebtoken` (on aws-lc-rs) reads the keys and makes their
//! JWKs and RFC 7638 thumbprints; a key's `kid` is its thumbprint, so it is the same wherever the
//! key is read.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey,
    jwk::{AlgorithmParameters, Jwk, JwkSet, PublicKeyUse, ThumbprintHash},
};

use crate::settings::{SettingsError, read_file, read_key_file, var};

/// The smallest RSA modulus accepted: 2048 bits, as NIST SP 800-57 requires for RSA signatures.
pub const MIN_RSA_BITS: usize = 2048;

/// The private key that signs tokens: one PEM file.
const PRIVATE_KEY_VARIABLE: &str = "JWT_PRIVATE_KEY";

/// The public keys that verify tokens: PEM files separated by commas, each with one or more keys.
const PUBLIC_KEY_VARIABLE: &str = "JWT_PUBLIC_KEY";

/// An RSA public key that verifies tokens, with its JWK (RFC 7517) for the JWKS. The JWK's `kid`
/// is the key's RFC 7638 thumbprint, so it is the same wherever the key is read.
#[derive(Clone)]
pub struct PublicKey {
    jwk: Jwk,
    decoding_key: DecodingKey,
}

impl PublicKey {
    /// Parses one SPKI ("PUBLIC KEY") or PKCS#1 ("RSA PUBLIC KEY") PEM block and checks its size.
    pub fn from_pem(pem: &str) -> Result<Self, String> {
        let decoding_key = DecodingKey::from_rsa_pem(pem.as_bytes())
            .map_err(|_| "not an RSA public key in PEM form".to_owned())?;
        Self::from_decoding_key(decoding_key)
    }

    /// The public half of a private key.
    fn of_private_key(key: &EncodingKey) -> Result<Self, String> {
        let jwk = Jwk::from_encoding_key(key, Algorithm::RS256).map_err(|error| {
            format!("not a usable RSA private key of at least {MIN_RSA_BITS} bits ({error})")
        })?;
        let AlgorithmParameters::RSA(rsa) = &jwk.algorithm else {
            return Err("not an RSA private key".to_owned());
        };
        let decoding_key = DecodingKey::from_rsa_components(&rsa.n, &rsa.e)
            .map_err(|error| format!("unusable RSA key: {error}"))?;
        Self::from_decoding_key(decoding_key)
    }

    fn from_decoding_key(decoding_key: DecodingKey) -> Result<Self, String> {
        let mut jwk = Jwk::from_decoding_key(&decoding_key, Some(Algorithm::RS256))
            .map_err(|error| format!("unusable RSA key: {error}"))?;
        let AlgorithmParameters::RSA(rsa) = &jwk.algorithm else {
            return Err("not an RSA key".to_owned());
        };
        let bits = modulus_bits(&rsa.n)?;
        if bits < MIN_RSA_BITS {
            return Err(format!(
                "the RSA key has {bits} bits; at least {MIN_RSA_BITS} are required"
            ));
        }
        let kid = jwk
            .thumbprint(ThumbprintHash::SHA256)
            .map_err(|error| format!("unusable RSA key: {error}"))?;
        jwk.common.key_id = Some(kid);
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        Ok(Self { jwk, decoding_key })
    }

    /// The key id: its RFC 7638 thumbprint.
    pub fn kid(&self) -> &str {
        self.jwk
            .common
            .key_id
            .as_deref()
            .expect("every key gets its thumbprint as its kid")
    }

    /// The key as a JWKS lists it: `kty`, `kid`, `use`, `alg`, `n`, `e`.
    pub fn jwk(&self) -> &Jwk {
        &self.jwk
    }

    pub(crate) fn decoding_key(&self) -> &DecodingKey {
        &self.decoding_key
    }
}

/// The size of an RSA modulus given as base64url (big-endian, as in a JWK), in bits.
fn modulus_bits(n: &str) -> Result<usize, String> {
    let bytes = URL_SAFE_NO_PAD
        .decode(n)
        .map_err(|_| "the RSA modulus is not base64url".to_owned())?;
    let mut significant = bytes.iter().skip_while(|byte| **byte == 0);
    let Some(first) = significant.next() else {
        return Ok(0);
    };
    Ok((significant.count() + 1) * 8 - first.leading_zeros() as usize)
}

/// The public keys that verify tokens, as `JWT_PUBLIC_KEY` lists them: one key, or several during
/// a key rotation (see keys/README.md). Each key appears once, in the order listed.
#[derive(Clone)]
pub struct PublicKeys(Vec<PublicKey>);

impl PublicKeys {
    /// Reads the files `JWT_PUBLIC_KEY` names (default `keys/public.pem`); see
    /// [`from_files`](Self::from_files).
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_files(&var(PUBLIC_KEY_VARIABLE).unwrap_or_else(|| "keys/public.pem".to_owned()))
    }

    /// The keys in `files`: PEM file names separated by commas, each file holding one or more
    /// public keys. Each key is kept once (the same key listed twice verifies the same tokens), in
    /// the order listed. An unreadable file or an unusable key anywhere stops the process, even
    /// when the others are fine: a key list half read is a rotation half done.
    pub fn from_files(files: &str) -> Result<Self, SettingsError> {
        let invalid = |reason: String| SettingsError::new(PUBLIC_KEY_VARIABLE, reason);
        let mut keys = Vec::new();
        for path in files.split(',').map(str::trim) {
            if path.is_empty() {
                return Err(invalid(format!(
                    "{files:?} has an empty file name in its comma-separated list"
                )));
            }
            let text = read_file(PUBLIC_KEY_VARIABLE, path)?;
            keys.extend(
                parse_pem_file(&text).map_err(|reason| invalid(format!("{path}: {reason}")))?,
            );
        }
        Ok(keys.into_iter().collect())
    }

    /// The key with this `kid`, if it is one of ours.
    pub fn find(&self, kid: &str) -> Option<&PublicKey> {
        self.0.iter().find(|key| key.kid() == kid)
    }

    /// The keys as a JWKS lists them.
    pub fn jwks(&self) -> JwkSet {
        JwkSet {
            keys: self.0.iter().map(|key| key.jwk().clone()).collect(),
        }
    }
}

/// Every public key in the text of a PEM file, in order. The file must hold at least one, and
/// only public keys: a private key here would be one more copy of a secret.
fn parse_pem_file(text: &str) -> Result<Vec<PublicKey>, String> {
    let blocks = pem::parse_many(text).map_err(|error| format!("not valid PEM: {error}"))?;
    if blocks.is_empty() {
        return Err("holds no PEM public key".to_owned());
    }
    let count = blocks.len();
    let position = |index: usize| {
        if count == 1 {
            String::new()
        } else {
            format!("key {} of {count}: ", index + 1)
        }
    };
    blocks
        .iter()
        .enumerate()
        .map(|(index, block)| {
            let key = match block.tag() {
                "PUBLIC KEY" | "RSA PUBLIC KEY" => PublicKey::from_pem(&pem::encode(block)),
                tag if tag.contains("PRIVATE KEY") => Err(format!(
                    "a private key ({tag}); public keys only here: the private key stays \
                     with authen-service"
                )),
                tag => Err(format!("a {tag} block, not a public key")),
            };
            key.map_err(|reason| format!("{}{reason}", position(index)))
        })
        .collect()
}

/// The keys, each once, in their first place.
impl FromIterator<PublicKey> for PublicKeys {
    fn from_iter<I: IntoIterator<Item = PublicKey>>(keys: I) -> Self {
        let mut unique: Vec<PublicKey> = Vec::new();
        for key in keys {
            if unique.iter().all(|known| known.kid() != key.kid()) {
                unique.push(key);
            }
        }
        Self(unique)
    }
}

/// The private key that signs tokens (authen-service's `JWT_PRIVATE_KEY`), with the `kid` its
/// tokens carry.
pub struct SigningKey {
    encoding_key: EncodingKey,
    kid: String,
}

impl SigningKey {
    /// Reads `JWT_PRIVATE_KEY` (default `keys/private.pem`), then the public keys of
    /// `JWT_PUBLIC_KEY`, which must list the private key's public half (see
    /// [`from_pem`](Self::from_pem)).
    pub fn from_env() -> Result<(Self, PublicKeys), SettingsError> {
        let pem = read_key_file(PRIVATE_KEY_VARIABLE, "keys/private.pem")?;
        let public_keys = PublicKeys::from_env()?;
        Ok((Self::from_pem(&pem, &public_keys)?, public_keys))
    }

    /// A PKCS#8 ("PRIVATE KEY") or PKCS#1 ("RSA PRIVATE KEY") PEM, which must be the private half
    /// of one of `public_keys`: tokens signed with a key nobody lists would never verify.
    pub fn from_pem(pem: &str, public_keys: &PublicKeys) -> Result<Self, SettingsError> {
        let invalid = |reason: String| SettingsError::new(PRIVATE_KEY_VARIABLE, reason);
        let encoding_key = EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(|_| {
            invalid("not an RSA private key in PKCS#8 or PKCS#1 PEM form".to_owned())
        })?;
        let public_half = PublicKey::of_private_key(&encoding_key).map_err(invalid)?;
        let kid = public_half.kid().to_owned();
        if public_keys.find(&kid).is_none() {
            return Err(SettingsError::new(
                PUBLIC_KEY_VARIABLE,
                format!(
                    "no key it lists matches {PRIVATE_KEY_VARIABLE} (kid {kid}); tokens signed \
                     with it would never verify"
                ),
            ));
        }
        Ok(Self { encoding_key, kid })
    }

    /// The `kid` of the key's public half: its RFC 7638 thumbprint.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The private key, for signing.
    pub fn encoding_key(&self) -> &EncodingKey {
        &self.encoding_key
    }
}

#[cfg(test)]
mod tests {
    use std::{
        io::Write,
        process::{Command, Stdio},
        sync::OnceLock,
    };

    use super::*;

    /// Runs `openssl` with `input` on stdin and returns its stdout: the keys in every form the
    /// settings accept, made as an operator would make them.
    fn openssl(args: &[&str], input: &str) -> String {
        let mut child = Command::new("openssl")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("openssl runs");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    struct Pair {
        /// PKCS#8 ("PRIVATE KEY").
        private: String,
        /// SPKI ("PUBLIC KEY").
        public: String,
    }

    impl Pair {
        fn generate(bits: u32) -> Self {
            let private = openssl(
                &[
                    "genpkey",
                    "-algorithm",
                    "RSA",
                    "-pkeyopt",
                    &format!("rsa_keygen_bits:{bits}"),
                ],
                "",
            );
            let public = openssl(&["pkey", "-pubout"], &private);
            Self { private, public }
        }

        fn kid(&self) -> String {
            PublicKey::from_pem(&self.public).unwrap().kid().to_owned()
        }
    }

    fn old() -> &'static Pair {
        static PAIR: OnceLock<Pair> = OnceLock::new();
        PAIR.get_or_init(|| Pair::generate(2048))
    }

    fn new() -> &'static Pair {
        static PAIR: OnceLock<Pair> = OnceLock::new();
        PAIR.get_or_init(|| Pair::generate(2048))
    }

    fn short() -> &'static Pair {
        static PAIR: OnceLock<Pair> = OnceLock::new();
        PAIR.get_or_init(|| Pair::generate(1024))
    }

    /// Writes each file's text into a fresh directory and returns the directory (removed when
    /// dropped) and the files' paths joined with commas, as `JWT_PUBLIC_KEY` lists them.
    fn files(texts: &[&str]) -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let paths: Vec<String> = texts
            .iter()
            .enumerate()
            .map(|(index, text)| {
                let path = dir.path().join(format!("public-{index}.pem"));
                std::fs::write(&path, text).unwrap();
                path.display().to_string()
            })
            .collect();
        (dir, paths.join(","))
    }

    fn kids(keys: &PublicKeys) -> Vec<String> {
        keys.jwks()
            .keys
            .into_iter()
            .map(|jwk| jwk.common.key_id.unwrap())
            .collect()
    }

    fn refusal(files: &str) -> String {
        let error = PublicKeys::from_files(files)
            .err()
            .expect("the list is refused");
        assert_eq!(error.variable, "JWT_PUBLIC_KEY");
        error.to_string()
    }

    #[test]
    fn several_keys_in_one_file_are_all_listed_in_order() {
        let (_dir, list) = files(&[&format!("{}{}", old().public, new().public)]);
        let keys = PublicKeys::from_files(&list).unwrap();
        assert_eq!(kids(&keys), [old().kid(), new().kid()]);
        assert!(keys.find(&old().kid()).is_some());
        assert!(keys.find(&new().kid()).is_some());
    }

    #[test]
    fn comma_separated_files_are_all_listed_in_order() {
        let (_dir, list) = files(&[&new().public, &old().public]);
        let keys = PublicKeys::from_files(&list.replace(',', " , ")).unwrap();
        assert_eq!(kids(&keys), [new().kid(), old().kid()]);
    }

    #[test]
    fn a_key_listed_twice_is_listed_once() {
        let both = format!("{}{}", old().public, new().public);
        let (_dir, list) = files(&[&old().public, &both, &old().public]);
        let keys = PublicKeys::from_files(&list).unwrap();
        assert_eq!(kids(&keys), [old().kid(), new().kid()]);
    }

    #[test]
    fn one_bad_key_among_good_ones_stops_the_process() {
        let with_short = format!("{}{}", old().public, short().public);
        let (_dir, list) = files(&[&new().public, &with_short]);
        let error = refusal(&list);
        assert!(error.contains("public-1.pem: key 2 of 2"), "{error}");
        assert!(error.contains("1024 bits"), "{error}");

        let garbled = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
        let (_dir, list) = files(&[&old().public, &format!("{}{garbled}", new().public)]);
        let error = refusal(&list);
        assert!(
            error.contains("key 2 of 2: not an RSA public key"),
            "{error}"
        );

        let (_dir, list) = files(&[&old().public]);
        let error = refusal(&format!("{list},{list}.missing"));
        assert!(error.contains("cannot read"), "{error}");
        let error = refusal(&format!("{list},,{list}"));
        assert!(error.contains("empty file name"), "{error}");
    }

    #[test]
    fn files_without_a_public_key_are_refused() {
        let (_dir, list) = files(&["not a key"]);
        assert!(refusal(&list).contains("holds no PEM public key"));
        let (_dir, list) = files(&[&format!("{}{}", old().public, new().private)]);
        let error = refusal(&list);
        assert!(error.contains("a private key (PRIVATE KEY)"), "{error}");
        assert!(!error.contains(new().private.lines().nth(1).unwrap()));
    }

    #[test]
    fn pkcs1_and_spki_forms_name_the_same_key() {
        let pkcs1_public = openssl(&["rsa", "-pubin", "-RSAPublicKey_out"], &old().public);
        assert!(pkcs1_public.starts_with("-----BEGIN RSA PUBLIC KEY-----"));
        let (_dir, list) = files(&[&pkcs1_public]);
        let keys = PublicKeys::from_files(&list).unwrap();
        assert_eq!(kids(&keys), [old().kid()]);

        let pkcs1_private = openssl(&["rsa", "-traditional"], &old().private);
        assert!(pkcs1_private.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
        let signing = SigningKey::from_pem(&pkcs1_private, &keys).unwrap();
        assert_eq!(signing.kid(), old().kid());
    }

    #[test]
    fn the_private_key_must_match_a_listed_public_key() {
        let (_dir, list) = files(&[&new().public]);
        let only_new = PublicKeys::from_files(&list).unwrap();
        let error = SigningKey::from_pem(&old().private, &only_new)
            .err()
            .expect("a private key nobody lists is refused");
        assert_eq!(error.variable, "JWT_PUBLIC_KEY");
        assert!(
            error.to_string().contains("matches JWT_PRIVATE_KEY"),
            "{error}"
        );

        let (_dir, list) = files(&[&new().public, &old().public]);
        let both = PublicKeys::from_files(&list).unwrap();
        let signing = SigningKey::from_pem(&old().private, &both).unwrap();
        assert_eq!(signing.kid(), old().kid());
    }

    #[test]
    fn a_short_or_malformed_private_key_is_refused() {
        let (_dir, list) = files(&[&old().public]);
        let keys = PublicKeys::from_files(&list).unwrap();
        for private in [short().private.as_str(), "not a key", &old().public] {
            let error = SigningKey::from_pem(private, &keys)
                .err()
                .expect("the private key is refused");
            assert_eq!(error.variable, "JWT_PRIVATE_KEY");
        }
    }

    #[test]
    fn keys_under_2048_bits_are_refused() {
        let error = PublicKey::from_pem(&short().public)
            .err()
            .expect("a 1024-bit key is refused");
        assert!(error.contains("1024 bits"), "{error}");
        assert!(PublicKey::from_pem("not a key").is_err());
        assert_eq!(modulus_bits("AQAB"), Ok(17));
        assert_eq!(modulus_bits("AAEA"), Ok(9));
        assert_eq!(modulus_bits("AAAA"), Ok(0));
    }

    #[test]
    fn a_jwk_has_the_members_of_an_rs256_signing_key() {
        let key = PublicKey::from_pem(&old().public).unwrap();
        let jwk = serde_json::to_value(key.jwk()).unwrap();
        let mut members: Vec<&str> = jwk
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        members.sort_unstable();
        assert_eq!(members, ["alg", "e", "kid", "kty", "n", "use"]);
        assert_eq!(jwk["kty"], "RSA");
        assert_eq!(jwk["use"], "sig");
        assert_eq!(jwk["alg"], "RS256");
        assert_eq!(jwk["kid"], key.kid());
    }

    #[test]
    fn kid_is_the_rfc_7638_thumbprint() {
        // The example key of RFC 7638, section 3.1.
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        let key =
            PublicKey::from_decoding_key(DecodingKey::from_rsa_components(n, "AQAB").unwrap())
                .unwrap();
        assert_eq!(key.kid(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    }
}
