//! Bytes of uploads in progress, one file per upload under `<data_dir>/files/uploads/`, named by
//! the upload id. A file's length is the upload's offset: tus clients resume from it after a
//! dropped connection or a server restart. Bytes written before a crash are bytes the client
//! sent in order, so whatever length survives is a valid offset (the client resends the rest);
//! each append is synced to disk before its new offset is acknowledged. Nothing here is ever
//! served: only complete, hashed objects in the object store are.

use std::io;
use std::path::{Path, PathBuf};

use natter_domain::files::FileId;
use tokio::fs::{File, OpenOptions};

pub struct Staging {
    dir: PathBuf,
}

impl Staging {
    /// The staging directory (created 0700 if missing).
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        crate::secrets::create_private_dir(dir)?;
        Ok(Self {
            dir: dir.to_owned(),
        })
    }

    /// Where the upload's bytes are (read by the blocking media probe).
    pub fn path(&self, id: FileId) -> PathBuf {
        self.dir.join(id.0.simple().to_string())
    }

    /// Bytes received so far (0 before the first append).
    pub async fn len(&self, id: FileId) -> io::Result<u64> {
        match tokio::fs::metadata(self.path(id)).await {
            Ok(meta) => Ok(meta.len()),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(0),
            Err(err) => Err(err),
        }
    }

    /// The upload's file, open for appending (created 0600 if missing).
    pub async fn appender(&self, id: FileId) -> io::Result<File> {
        let mut options = OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        options.mode(0o600);
        options.open(self.path(id)).await
    }

    /// Cut the upload back to `len` bytes (a refused append leaves no trace).
    pub async fn truncate(&self, id: FileId, len: u64) -> io::Result<()> {
        let file = OpenOptions::new().write(true).open(self.path(id)).await?;
        file.set_len(len).await?;
        file.sync_all().await
    }

    pub async fn reader(&self, id: FileId) -> io::Result<File> {
        File::open(self.path(id)).await
    }

    /// All the upload's bytes (an image to decode: at most `files.max_bytes`).
    pub async fn read_all(&self, id: FileId) -> io::Result<Vec<u8>> {
        tokio::fs::read(self.path(id)).await
    }

    /// Delete the upload's bytes; nothing to do if there are none.
    pub async fn remove(&self, id: FileId) -> io::Result<()> {
        match tokio::fs::remove_file(self.path(id)).await {
            Err(err) if err.kind() != io::ErrorKind::NotFound => Err(err),
            _ => Ok(()),
        }
    }
}
