//! The revoked tokens author-service refuses, held in memory so checking one costs a hash lookup
//! rather than a database round trip on every request.
//!
//! MongoDB's `revoked_tokens` is the source of truth. Two paths bring a revocation here:
//! - authen-service calls `POST /revocations` right after logout, so this process refuses the
//!   token from the next request on;
//! - a poll every [`POLL_INTERVAL`] reads what was recorded since the last one, which covers
//!   revocations this process missed (it was restarting, or another replica took the call).
//!
//! Until the first poll has succeeded the list is unknown, and `/authorize` answers 503 rather than
//! accept a token that may have been revoked.

use std::{
    collections::HashMap,
    sync::{
        Arc, RwLock,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use futures_util::TryStreamExt;
use mongodb::{
    Collection, Database,
    bson::{DateTime, doc},
};
use platform::revocations::{self, RevocationDocument};

/// How often the database is asked for revocations recorded elsewhere. With several replicas,
/// authen-service tells only the one author-service replica its call reaches; the others refuse
/// the token after their next poll, so half a second here (plus the query) keeps every replica
/// within 1 s of a logout. The query reads an index on `revoked_at` and returns the last 30 s of
/// revocations: two a second per replica costs next to nothing.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// How far back each poll reaches before the newest revocation already seen, so one recorded
/// with a slightly earlier clock (another authen replica) or committed late is not skipped.
const POLL_OVERLAP: Duration = Duration::from_secs(30);

#[derive(Default)]
pub struct RevocationList {
    /// `jti` → the token's `exp` (Unix seconds); entries are dropped once the token has expired.
    revoked: RwLock<HashMap<String, u64>>,
    loaded: AtomicBool,
}

/// The list cannot say yet: the database has not answered since the process started.
#[derive(Debug)]
pub struct NotLoaded;

impl RevocationList {
    pub fn is_revoked(&self, jti: &str) -> Result<bool, NotLoaded> {
        if !self.loaded.load(Ordering::Acquire) {
            return Err(NotLoaded);
        }
        Ok(self.read().contains_key(jti))
    }

    pub fn is_loaded(&self) -> bool {
        self.loaded.load(Ordering::Acquire)
    }

    pub fn insert(&self, jti: String, expires_at: u64) {
        self.write().insert(jti, expires_at);
    }

    /// Polls `database` for ever, in the background.
    pub fn keep_in_sync(self: &Arc<Self>, database: &Database) {
        let list = self.clone();
        let collection = revocations::collection(database);
        tokio::spawn(async move {
            let mut since = DateTime::from_millis(0);
            let mut failing = false;
            loop {
                match list.poll(&collection, since).await {
                    Ok(newest) => {
                        if failing {
                            tracing::info!("reading revoked tokens again");
                        }
                        failing = false;
                        since = newest.map_or(since, |newest| since.max(newest));
                    }
                    // Logged once per outage, not at every poll.
                    Err(error) if !failing => {
                        failing = true;
                        tracing::warn!(%error, "cannot read revoked tokens; using the last known list");
                    }
                    Err(_) => {}
                }
                tokio::time::sleep(POLL_INTERVAL).await;
            }
        });
    }

    /// Reads the revocations recorded since `since` (less the overlap), drops expired entries, and
    /// returns the newest `revoked_at` read.
    async fn poll(
        &self,
        collection: &Collection<RevocationDocument>,
        since: DateTime,
    ) -> mongodb::error::Result<Option<DateTime>> {
        let from =
            DateTime::from_millis(since.timestamp_millis() - POLL_OVERLAP.as_millis() as i64);
        let now = DateTime::now();
        let documents: Vec<RevocationDocument> = collection
            .find(doc! { "revoked_at": { "$gte": from }, "expires_at": { "$gt": now } })
            .await?
            .try_collect()
            .await?;
        let newest = documents.iter().map(|document| document.revoked_at).max();
        let now_seconds = unix_seconds();
        let mut revoked = self.write();
        revoked.retain(|_, expires_at| *expires_at > now_seconds);
        for document in documents {
            let expires_at =
                u64::try_from(document.expires_at.timestamp_millis() / 1000).unwrap_or(0);
            revoked.insert(document.jti, expires_at);
        }
        drop(revoked);
        self.loaded.store(true, Ordering::Release);
        Ok(newest)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, u64>> {
        // A panic while holding the lock cannot leave the map half-updated in a harmful way.
        self.revoked
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, u64>> {
        self.revoked
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_until_loaded() {
        let list = RevocationList::default();
        assert!(list.is_revoked("a").is_err());
        list.loaded.store(true, Ordering::Release);
        assert!(!list.is_revoked("a").unwrap());
        list.insert("a".to_owned(), unix_seconds() + 60);
        assert!(list.is_revoked("a").unwrap());
        assert!(!list.is_revoked("b").unwrap());
    }
}
