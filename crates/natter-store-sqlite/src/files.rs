//! The database holds password hashes and every message: only the server's own user may read
//! it. Directories the store creates are 0700; the database file is made 0600 before SQLite
//! opens it, and SQLite gives its `-wal` and `-shm` files the main file's mode. Files left with
//! a looser mode by an older version are tightened. An existing directory is left as it is (it
//! may be shared, like `/tmp`): the server warns about it instead.

use std::io;
use std::path::Path;

/// Create `dir` and its missing parents, each 0700 (on Unix).
pub(crate) fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Create `path` if missing and make it, and the `-wal`/`-shm` files beside it if present, 0600.
pub(crate) fn make_private(path: &Path) -> io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for suffix in ["", "-wal", "-shm"] {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            match std::fs::set_permissions(&name, std::fs::Permissions::from_mode(0o600)) {
                Err(err) if err.kind() == io::ErrorKind::NotFound => {}
                other => other?,
            }
        }
    }
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use crate::SqliteStore;

    fn mode(path: &std::path::Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[tokio::test]
    async fn directories_are_0700_and_database_files_0600() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("data").join("db");
        let path = dir.join("natter.db");
        let store = SqliteStore::open(&path).await.unwrap();
        assert_eq!(mode(&root.path().join("data")), 0o700);
        assert_eq!(mode(&dir), 0o700);
        for name in ["natter.db", "natter.db-wal", "natter.db-shm"] {
            assert_eq!(mode(&dir.join(name)), 0o600, "{name}");
        }
        store.close().await;

        // A database left world-readable by an older version is tightened when opened.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let store = SqliteStore::open(&path).await.unwrap();
        assert_eq!(mode(&path), 0o600);
        store.close().await;
    }
}
