//! The token-signing keys, in one file every node shares (default `<data_dir>/token.key`, mode
//! 0600, created on first start so tokens stay valid across restarts). The file is a keyring:
//! the first key signs, every key verifies (tokens name theirs with `kid`). `natter
//! rotate-token-key` puts a new signing key in front; access tokens signed with the older ones
//! stay valid until they expire, so nobody is logged out (refresh tokens do not depend on these
//! keys at all). The newest [`KEYS_KEPT`] keys are kept. A file written by an older version (32
//! raw bytes) is a ring of that one key.
//!
//! And the data directory itself, which holds the key file and the embedded database: created
//! 0700.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;

/// The keyring's first line; a file that starts otherwise is one raw key (older versions).
const HEADER: &str = "# natter token keys (base64url), newest first: the first signs, all verify";
/// Keys a rotation keeps: the new one and the two before it (an access token lives minutes, so
/// one older key would do; two more leave room for a rotation rolled back).
pub const KEYS_KEPT: usize = 3;
const KEY_MIN_BYTES: usize = 32;

/// The keyring at `path`, newest first; a new one-key ring if the file does not exist.
pub fn load_or_create(path: &Path) -> anyhow::Result<Vec<Vec<u8>>> {
    if let Some(keys) = read(path)? {
        return Ok(keys);
    }
    let keys = vec![random_key()];
    write_new(path, &keys)?;
    Ok(keys)
}

/// Put a new signing key in front of the ring at `path` (created if missing), keep the newest
/// [`KEYS_KEPT`]. Written beside it and renamed over it, so a node starting meanwhile reads the
/// old ring or the new one, never half of one. Nodes use the new key once restarted.
pub fn rotate(path: &Path) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut keys = read(path)?.unwrap_or_default();
    keys.insert(0, random_key());
    keys.truncate(KEYS_KEPT);
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".new");
    let temporary = std::path::PathBuf::from(temporary);
    match std::fs::remove_file(&temporary) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
            return Err(err).with_context(|| format!("cannot remove {}", temporary.display()));
        }
        _ => {}
    }
    write_new(&temporary, &keys)?;
    std::fs::rename(&temporary, path)
        .with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(keys)
}

fn read(path: &Path) -> anyhow::Result<Option<Vec<Vec<u8>>>> {
    match std::fs::read(path) {
        Ok(bytes) => parse(&bytes)
            .map(Some)
            .with_context(|| format!("{} is not a token keyring", path.display())),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn parse(bytes: &[u8]) -> anyhow::Result<Vec<Vec<u8>>> {
    let keys = match std::str::from_utf8(bytes) {
        Ok(text) if text.starts_with(HEADER) => text
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .map(|line| {
                URL_SAFE_NO_PAD
                    .decode(line)
                    .context("a key is not base64url")
            })
            .collect::<anyhow::Result<Vec<_>>>()?,
        _ => vec![bytes.to_vec()],
    };
    anyhow::ensure!(!keys.is_empty(), "no key");
    anyhow::ensure!(
        keys.iter().all(|key| key.len() >= KEY_MIN_BYTES),
        "every key must be at least {KEY_MIN_BYTES} bytes"
    );
    Ok(keys)
}

fn random_key() -> Vec<u8> {
    let mut key = vec![0u8; KEY_MIN_BYTES];
    rand::rng().fill_bytes(&mut key);
    key
}

fn write_new(path: &Path, keys: &[Vec<u8>]) -> anyhow::Result<()> {
    let mut text = format!("{HEADER}\n");
    for key in keys {
        text.push_str(&URL_SAFE_NO_PAD.encode(key));
        text.push('\n');
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    Ok(())
}

/// Create the data directory (and missing parents) 0700. An existing one is left as it is (it
/// may be shared): a warning says so if others may read it.
pub fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir)?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(dir = %dir.display(), mode = format!("{mode:o}"),
                "the data directory is open to other users; 0700 is advised");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ring_is_created_then_rotated_keeping_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token.key");
        let first = load_or_create(&path).unwrap();
        assert_eq!(first.len(), 1);
        assert_eq!(
            load_or_create(&path).unwrap(),
            first,
            "stable across restarts"
        );
        let rotated = rotate(&path).unwrap();
        assert_eq!(rotated.len(), 2);
        assert_eq!(rotated[1], first[0], "the old key still verifies");
        assert_eq!(load_or_create(&path).unwrap(), rotated);
        for _ in 0..3 {
            rotate(&path).unwrap();
        }
        let ring = load_or_create(&path).unwrap();
        assert_eq!(ring.len(), KEYS_KEPT);
        assert!(!ring.contains(&first[0]), "the oldest keys are dropped");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }

    #[test]
    fn a_raw_key_of_an_older_version_is_a_ring_of_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token.key");
        let raw = [7u8; 32];
        std::fs::write(&path, raw).unwrap();
        assert_eq!(load_or_create(&path).unwrap(), vec![raw.to_vec()]);
        let rotated = rotate(&path).unwrap();
        assert_eq!(rotated[1], raw.to_vec());
        std::fs::write(&path, [1u8; 8]).unwrap();
        assert!(load_or_create(&path).is_err(), "too short");
    }
}
