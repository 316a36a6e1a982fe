//! Bytes of uploads in progress, one file per upload under `<data_dir>/files/uploads/`, named by
//! the upload id. A file's length is the upload's offset: tus clients resume from it after a
//! dropped connection or a server restart. Bytes written before a crash are bytes the client
//! sent in order, so whatever length survives is a valid offset (the client resends the rest);
//! each append is synced to disk before its new offset is acknowledged. Nothing here is ever
//! served: only complete, hashed objects in the object store are.
//!
//! Scaled out, the directory is one node's: NGINX sends every request of an upload to the same
//! node (deploy/nginx), and the collector of each node also clears its own directory of bytes
//! left untouched for too long (`stale`), whichever node removed their upload's row.

use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

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

    /// Where ffmpeg writes the stripped copy of the upload's sound or video (`av.rs`), next to
    /// it: never served, removed with the upload's bytes.
    pub fn stripped_path(&self, id: FileId) -> PathBuf {
        self.dir.join(format!("{}.stripped", id.0.simple()))
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

    /// Uploads whose staged bytes were last written before `cutoff`, at most `limit`.
    pub async fn stale(&self, cutoff: SystemTime, limit: usize) -> io::Result<Vec<FileId>> {
        let mut found = Vec::new();
        let mut entries = tokio::fs::read_dir(&self.dir).await?;
        while found.len() < limit {
            let Some(entry) = entries.next_entry().await? else {
                break;
            };
            let Some(id) = entry
                .file_name()
                .to_str()
                .and_then(|name| uuid::Uuid::try_parse(name).ok())
            else {
                continue;
            };
            if entry.metadata().await?.modified()? < cutoff {
                found.push(FileId(id));
            }
        }
        Ok(found)
    }

    /// Delete the upload's bytes (and a stripped copy a crash left); nothing to do if there are
    /// none.
    pub async fn remove(&self, id: FileId) -> io::Result<()> {
        for path in [self.stripped_path(id), self.path(id)] {
            match tokio::fs::remove_file(path).await {
                Err(err) if err.kind() != io::ErrorKind::NotFound => return Err(err),
                _ => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn stale_is_what_was_last_written_before_the_cutoff() {
        let dir = tempfile::tempdir().unwrap();
        let staging = Staging::open(dir.path()).unwrap();
        let (old, fresh) = (FileId::new(), FileId::new());
        for id in [old, fresh] {
            staging.appender(id).await.unwrap();
        }
        let hour_ago = SystemTime::now() - Duration::from_secs(3600);
        std::fs::File::options()
            .write(true)
            .open(staging.path(old))
            .unwrap()
            .set_modified(hour_ago)
            .unwrap();
        std::fs::write(dir.path().join("not-an-upload"), b"x").unwrap();
        let cutoff = SystemTime::now() - Duration::from_secs(60);
        assert_eq!(staging.stale(cutoff, 10).await.unwrap(), vec![old]);
        assert_eq!(staging.stale(cutoff, 0).await.unwrap(), vec![]);
    }
}
