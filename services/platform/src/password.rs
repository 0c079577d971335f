//! Password hashing and verification with argon2id.
//!
//! Argon2 is deliberately slow (tens of milliseconds of CPU and 19 MiB each), so both run on tokio's
//! blocking pool, never on the async workers, behind a semaphore as wide as the machine: a burst of
//! logins queues here instead of filling the blocking pool and starving everything else. The
//! request's span follows the work into the pool, so the hash shows up inside its trace.

use std::sync::{Arc, LazyLock};

use argon2::{
    Algorithm, Argon2, Block, Params, PasswordHash, Version,
    password_hash::{Output, ParamsString, Salt, SaltString, rand_core::OsRng},
};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;
use tracing::Instrument;

use crate::ApiError;

/// OWASP's recommended argon2id parameters: m = 19 MiB, t = 2, p = 1.
fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("constant parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// At most one hash per core at a time.
static HASHING_SLOTS: LazyLock<Arc<Semaphore>> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    Arc::new(Semaphore::new(cores))
});

/// A hash of a random password with the same parameters, verified for unknown users so that the
/// answer takes as long as for a known one and timing reveals nothing.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    let password = SaltString::generate(&mut OsRng);
    hash_blocking(&SecretString::from(password.as_str())).expect("hashing a random password")
});

/// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$...`).
pub type PasswordHashString = String;

fn hash_blocking(
    password: &SecretString,
) -> Result<PasswordHashString, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    let argon2 = argon2();
    let output = compute(
        &argon2,
        password,
        salt.as_salt(),
        Params::DEFAULT_OUTPUT_LEN,
    )?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(argon2.params())?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(hash.to_string())
}

fn verify_blocking(password: &SecretString, hash: Option<&str>) -> bool {
    let known = hash.is_some();
    let hash = hash.unwrap_or(&DUMMY_HASH);
    let matches = || -> Result<bool, argon2::password_hash::Error> {
        let stored = PasswordHash::new(hash)?;
        let algorithm = Algorithm::try_from(stored.algorithm)?;
        let version = stored.version.map(Version::try_from).transpose()?;
        let argon2 = Argon2::new(
            algorithm,
            version.unwrap_or_default(),
            Params::try_from(&stored)?,
        );
        let (Some(salt), Some(expected)) = (stored.salt, stored.hash) else {
            return Ok(false);
        };
        // `Output`'s equality is constant-time.
        Ok(compute(&argon2, password, salt, expected.len())? == expected)
    };
    matches().unwrap_or(false) && known
}

/// glibc's malloc serves a request above 32 MiB (the most its mmap threshold ever rises to) with a
/// mapping of its own and unmaps it on free, so that memory leaves the process at once. Smaller
/// blocks, such as argon2's 19 MiB, stay in its per-thread arenas after they are freed: a login
/// burst left over 500 MB resident in authen-service. So argon2's working memory is reserved at
/// this size; only the pages argon2 writes (19 MiB) ever become resident.
const UNMAPPED_ON_FREE_BYTES: usize = 33 << 20;

/// Argon2 over memory allocated here (see [`UNMAPPED_ON_FREE_BYTES`]) instead of inside the crate.
fn compute(
    argon2: &Argon2<'_>,
    password: &SecretString,
    salt: Salt<'_>,
    output_len: usize,
) -> Result<Output, argon2::password_hash::Error> {
    let mut salt_bytes = [0u8; Salt::MAX_LENGTH];
    let salt = salt.decode_b64(&mut salt_bytes)?;
    let blocks = argon2.params().block_count();
    let mut memory = Vec::with_capacity(blocks.max(UNMAPPED_ON_FREE_BYTES / size_of::<Block>()));
    memory.resize(blocks, Block::default());
    Output::init_with(output_len, |output| {
        argon2
            .hash_password_into_with_memory(
                password.expose_secret().as_bytes(),
                salt,
                output,
                &mut memory,
            )
            .map_err(Into::into)
    })
}

/// Runs `work` on the blocking pool inside `span`, holding one hashing slot.
async fn in_blocking_pool<T: Send + 'static>(
    span: tracing::Span,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    let slot = HASHING_SLOTS
        .clone()
        .acquire_owned()
        .instrument(span.clone())
        .await
        .map_err(|_| ApiError::Internal("hashing semaphore closed".to_owned()))?;
    tokio::task::spawn_blocking(move || {
        let _slot = slot;
        span.in_scope(work)
    })
    .await
    .map_err(|error| ApiError::Internal(format!("hashing task failed: {error}")))
}

/// Hashes a password for storage.
pub async fn hash(password: SecretString) -> Result<PasswordHashString, ApiError> {
    let span = tracing::info_span!("password.hash", otel.kind = "internal");
    in_blocking_pool(span, move || hash_blocking(&password))
        .await?
        .map_err(|error| ApiError::Internal(format!("hashing failed: {error}")))
}

/// Checks a password against a stored hash, or against a dummy hash when the user is unknown
/// (`None`), which always fails but takes the same time.
pub async fn verify(
    password: SecretString,
    hash: Option<PasswordHashString>,
) -> Result<bool, ApiError> {
    let span = tracing::info_span!("password.verify", otel.kind = "internal");
    in_blocking_pool(span, move || verify_blocking(&password, hash.as_deref())).await
}

/// Computes the dummy hash now, so the first failed login is not slower than the rest.
pub async fn warm_up() {
    let _ = tokio::task::spawn_blocking(|| LazyLock::force(&DUMMY_HASH)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_phc_strings_that_verify() {
        let password = SecretString::from("correct horse battery");
        let stored = hash(password.clone()).await.unwrap();
        assert!(
            stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{stored}"
        );
        assert!(!stored.contains("correct horse"));
        assert!(verify(password, Some(stored.clone())).await.unwrap());
        assert!(
            !verify(SecretString::from("wrong"), Some(stored))
                .await
                .unwrap()
        );
    }

    #[test]
    fn hashes_match_the_argon2_crates_own() {
        use argon2::{PasswordHasher, PasswordVerifier};
        let password = SecretString::from("correct horse battery");
        let ours = hash_blocking(&password).unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            argon2()
                .verify_password(b"correct horse battery", &parsed)
                .is_ok()
        );
        let salt = SaltString::generate(&mut OsRng);
        let theirs = argon2()
            .hash_password(b"correct horse battery", &salt)
            .unwrap()
            .to_string();
        assert!(verify_blocking(&password, Some(&theirs)));
        assert!(!verify_blocking(
            &SecretString::from("wrong"),
            Some(&theirs)
        ));
        assert!(!verify_blocking(&password, Some("$argon2id$not-a-hash")));
    }

    #[tokio::test]
    async fn unknown_users_never_verify() {
        assert!(!verify(SecretString::from("anything"), None).await.unwrap());
    }
}
