//! Password hashing and verification with argon2id.
//!
//! Argon2 is deliberately slow (tens of milliseconds of CPU and 19 MiB each), so both run on
//! threads of their own, one per core, never on the async workers: a burst of logins queues here
//! instead of starving everything else. The request's span follows the work onto the thread, so
//! the hash shows up inside its trace.
//!
//! Why not tokio's blocking pool: argon2 allocates its 19 MiB on the thread that runs it, and the
//! allocator (glibc's, with an arena per thread) keeps that memory once it is freed. The blocking
//! pool's threads come and go, and new ones kept claiming more of it: authen-service grew from 396
//! to 472 MiB in 19 MiB steps during a five-minute soak (tests/soak.rs). On fixed threads it
//! stayed between 225 and 244 MiB in the same soak.

use std::{
    panic::AssertUnwindSafe,
    sync::{LazyLock, Mutex, mpsc},
};

use argon2::{
    Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version,
    password_hash::{SaltString, rand_core::OsRng},
};
use secrecy::{ExposeSecret, SecretString};

use crate::ApiError;

/// OWASP's recommended argon2id parameters: m = 19 MiB, t = 2, p = 1.
fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("constant parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Work for a hashing thread.
type Job = Box<dyn FnOnce() + Send>;

/// The hashing threads, one per core, started on first use; the channel is their queue.
static HASHING_THREADS: LazyLock<mpsc::Sender<Job>> = LazyLock::new(|| {
    let (jobs, queue) = mpsc::channel::<Job>();
    let queue = std::sync::Arc::new(Mutex::new(queue));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    for i in 0..cores {
        let queue = queue.clone();
        let run = move || {
            loop {
                // The lock is held only while waiting for the next job, not while running it.
                let next = queue.lock().map(|queue| queue.recv());
                let Ok(Ok(job)) = next else { return };
                // A panicking job must not take the thread with it; its caller sees the dropped
                // answer as an internal error.
                let _ = std::panic::catch_unwind(AssertUnwindSafe(job));
            }
        };
        std::thread::Builder::new()
            .name(format!("argon2-{i}"))
            .spawn(run)
            .expect("starting a password hashing thread");
    }
    jobs
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
    Ok(argon2()
        .hash_password(password.expose_secret().as_bytes(), &salt)?
        .to_string())
}

fn verify_blocking(password: &SecretString, hash: Option<&str>) -> bool {
    let known = hash.is_some();
    let hash = hash.unwrap_or(&DUMMY_HASH);
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let matches = argon2()
        .verify_password(password.expose_secret().as_bytes(), &parsed)
        .is_ok();
    known && matches
}

/// Runs `work` on a hashing thread inside `span`, once one is free.
async fn on_hashing_thread<T: Send + 'static>(
    span: tracing::Span,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    let (answer, answered) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let _ = answer.send(span.in_scope(work));
    });
    HASHING_THREADS
        .send(job)
        .map_err(|_| ApiError::Internal("the hashing threads are gone".to_owned()))?;
    answered
        .await
        .map_err(|_| ApiError::Internal("hashing failed: the work panicked".to_owned()))
}

/// Hashes a password for storage.
pub async fn hash(password: SecretString) -> Result<PasswordHashString, ApiError> {
    let span = tracing::info_span!("password.hash", otel.kind = "internal");
    on_hashing_thread(span, move || hash_blocking(&password))
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
    on_hashing_thread(span, move || verify_blocking(&password, hash.as_deref())).await
}

/// Computes the dummy hash now, so the first failed login is not slower than the rest.
pub async fn warm_up() {
    let span = tracing::Span::none();
    let _ = on_hashing_thread(span, || {
        LazyLock::force(&DUMMY_HASH);
    })
    .await;
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

    #[tokio::test]
    async fn unknown_users_never_verify() {
        assert!(!verify(SecretString::from("anything"), None).await.unwrap());
    }
}
