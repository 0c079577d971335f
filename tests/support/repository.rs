//! The repository's own deployment files, for the tests that check them without running them
//! (tests/compose.rs, tests/kubernetes/).

use crate::project_root;

/// A file of the repository, by its path from the root.
pub fn read_repository_file(file: &str) -> String {
    std::fs::read_to_string(project_root().join(file))
        .unwrap_or_else(|error| panic!("{file}: {error}"))
}

/// An image reference names a fixed version: a digest, or a tag that is not `latest` and carries
/// a version number (`mongo:8.0`) or a Debian release's codename (`debian:bookworm-slim`, which
/// pins Debian 12; `stable` or `latest` would move to the next release).
pub fn assert_image_pinned(image: &str) {
    const DEBIAN_RELEASES: [&str; 3] = ["bullseye", "bookworm", "trixie"];
    if image.contains("@sha256:") {
        return;
    }
    let name_start = image.rfind('/').map_or(0, |slash| slash + 1);
    let tag = image[name_start..]
        .split_once(':')
        .map(|(_, tag)| tag)
        .unwrap_or_else(|| panic!("{image}: no tag, which means `latest`"));
    let versioned = tag.chars().any(|c| c.is_ascii_digit())
        || DEBIAN_RELEASES
            .iter()
            .any(|release| tag.split('-').any(|part| part == *release));
    assert!(
        !tag.contains("latest") && versioned,
        "{image}: the tag {tag:?} does not pin a version"
    );
}
