//! A MongoDB-speaking server for one test: nx-27017 from `NX_27017_BIN` (scripts/test.sh installs
//! it), or an existing server named by `TEST_MONGODB_URI` (then each test uses its own database,
//! and stopping it is not possible).

use launcher::EmbeddedMongo;
use nix::sys::signal::Signal;
use tempfile::TempDir;

pub struct MongoServer {
    external_uri: Option<String>,
    embedded: Option<EmbeddedMongo>,
    dir: TempDir,
}

impl MongoServer {
    /// Starts a fresh, empty server on a port of its choosing; file-backed, so data survives
    /// [`stop`](Self::stop) and [`start`](Self::start), which keep the port.
    pub async fn start_new() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let external_uri = std::env::var("TEST_MONGODB_URI")
            .ok()
            .filter(|uri| !uri.is_empty());
        let embedded = external_uri.is_none().then(|| {
            let binary = EmbeddedMongo::binary().unwrap_or_else(|error| {
                panic!("{error}; run the tests with scripts/test.sh, which installs it")
            });
            EmbeddedMongo::new(binary, dir.path(), dir.path(), "127.0.0.1", 0)
        });
        let mut server = Self {
            external_uri,
            embedded,
            dir,
        };
        server.start().await;
        server
    }

    /// The URI the services get.
    pub fn uri(&self) -> String {
        match (&self.external_uri, &self.embedded) {
            (Some(uri), _) => uri.clone(),
            (None, Some(embedded)) => embedded.uri(),
            (None, None) => unreachable!("a server is external or embedded"),
        }
    }

    /// A database name no other test uses (matters only with `TEST_MONGODB_URI`).
    pub fn database_name(&self) -> String {
        let suffix = self
            .dir
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .replace(['.', '-'], "_");
        format!("blog_test_{suffix}")
    }

    pub fn is_embedded(&self) -> bool {
        self.embedded.is_some()
    }

    /// Starts the embedded server (again, on the same port); nothing for an external one.
    pub async fn start(&mut self) {
        if let Some(embedded) = &mut self.embedded {
            embedded
                .start()
                .await
                .unwrap_or_else(|error| panic!("{error}"));
        }
    }

    /// Stops the server (as a crash would look to the services: the port goes away).
    pub fn stop(&mut self) {
        self.embedded
            .as_mut()
            .expect("an external TEST_MONGODB_URI server cannot be stopped by the tests")
            .stop(Signal::SIGKILL);
    }

    /// A collection of the services' database, for checking what was stored.
    pub async fn collection(&self, name: &str) -> mongodb::Collection<mongodb::bson::Document> {
        let client = mongodb::Client::with_uri_str(self.uri())
            .await
            .expect("a client for the test server");
        client.database(&self.database_name()).collection(name)
    }
}
