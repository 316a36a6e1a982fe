//! One `scripts/services` run per service at a time, so two callers never start one server
//! twice: an exclusive `flock` on `<dir>/.<name>.lock`, waited for at most 10 minutes. The file
//! is opened close-on-exec, so a server started under the lock never holds it.

use std::fs::{self, File};
use std::path::Path;
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

const LOCK_WAIT: Duration = Duration::from_secs(600);
const LOCK_POLL: Duration = Duration::from_millis(200);

/// Runs `work` holding the lock of service `name` in `dir`.
pub fn with_lock<T>(
    dir: &Path,
    name: &str,
    work: impl FnOnce() -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let path = dir.join(format!(".{name}.lock"));
    let file = File::create(&path).with_context(|| format!("open {}", path.display()))?;
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(std::fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                sleep(LOCK_POLL);
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                bail!("timed out waiting for another scripts/services run on {name}")
            }
            Err(std::fs::TryLockError::Error(err)) => {
                return Err(err).with_context(|| format!("lock {}", path.display()));
            }
        }
    }
    let result = work();
    drop(file);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_is_held_while_the_work_runs_and_released_after() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".redis.lock");
        with_lock(dir.path(), "redis", || {
            let other = File::open(&path)?;
            assert!(matches!(
                other.try_lock(),
                Err(std::fs::TryLockError::WouldBlock)
            ));
            Ok(())
        })
        .unwrap();
        File::open(&path).unwrap().try_lock().unwrap();
    }
}
