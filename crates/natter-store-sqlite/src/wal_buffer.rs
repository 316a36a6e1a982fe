//! A VFS that hands a commit's WAL frames to the kernel in a few large writes.
//!
//! SQLite appends a commit to the log one frame at a time, and each frame as two `pwrite`s (its
//! 24-byte header, then the page): a batch of 2,048 appends writes ~2 frames each, so the writer
//! thread made ~70,000 system calls a second at 20,000 sends/s, 30% of its time. This VFS wraps
//! the platform's own and, for log files only, gathers writes that continue one another in
//! memory, writing them out as one call when SQLite needs them on disk or in the file: before a
//! sync (every commit: `synchronous=FULL`), a read, a size or truncate, a lock release, a file
//! control, a memory map, the close, a write elsewhere in the file, or at [`PENDING_MAX`] bytes.
//!
//! Nothing SQLite relies on changes: a commit is durable once its sync returns, and the sync
//! writes everything gathered first; readers only look at frames the log's index publishes, which
//! SQLite does after that sync (this needs the sync: with `synchronous=NORMAL` a commit would
//! publish frames still gathered here, so the writer must keep `FULL`); a crash with frames
//! still gathered is a crash before the commit, which SQLite recovers from as it always does
//! (the tail's checksums do not match). A write error is reported by the call that writes the
//! gathered frames (the sync of the commit, which then fails).
//!
//! Only the writer's connection uses it ([`crate::connections::open_writer`]); the database file,
//! the shared-memory index and every other file go straight to the platform's VFS.

use std::ffi::{CStr, c_char, c_int, c_void};
use std::ptr;
use std::sync::OnceLock;

use rusqlite::ffi;

/// The name the VFS is registered under.
pub(crate) const NAME: &CStr = c"natter-wal-buffer";

/// Gathered bytes written out at once beyond this (a batch's commit is a few MiB).
const PENDING_MAX: usize = 1 << 20;
/// Bytes per write to the platform's VFS: the unix VFS takes less than 128 KiB per call.
const WRITE_MAX: usize = 120 * 1024;

/// The platform's VFS, wrapped by ours (a copy of it with [`open`] as `xOpen`).
struct Vfs {
    inner: *mut ffi::sqlite3_vfs,
}

// SAFETY: it points to a VFS object that lives for the whole process and that SQLite lets any
// thread use.
unsafe impl Send for Vfs {}
unsafe impl Sync for Vfs {}

static VFS: OnceLock<Result<Vfs, c_int>> = OnceLock::new();

/// Register the VFS (once per process) and return its name; `Err` holds SQLite's result code.
pub(crate) fn register() -> Result<&'static CStr, c_int> {
    let vfs = VFS.get_or_init(|| {
        // SAFETY: sqlite3_vfs_find(NULL) returns the default VFS, which lives for the process;
        // the copy is leaked, so it does too, as sqlite3_vfs_register requires.
        unsafe {
            let rc = ffi::sqlite3_initialize();
            if rc != ffi::SQLITE_OK {
                return Err(rc);
            }
            let inner = ffi::sqlite3_vfs_find(ptr::null());
            if inner.is_null() {
                return Err(ffi::SQLITE_ERROR);
            }
            let mut copy = *inner;
            copy.pNext = ptr::null_mut();
            copy.zName = NAME.as_ptr();
            copy.szOsFile = (INNER_AT + (*inner).szOsFile as usize) as c_int;
            copy.xOpen = Some(open);
            let outer = Box::into_raw(Box::new(copy));
            let rc = ffi::sqlite3_vfs_register(outer, 0);
            if rc != ffi::SQLITE_OK {
                return Err(rc);
            }
            Ok(Vfs { inner })
        }
    });
    vfs.as_ref().map(|_| NAME).map_err(|rc| *rc)
}

fn inner_vfs() -> *mut ffi::sqlite3_vfs {
    match VFS.get() {
        Some(Ok(vfs)) => vfs.inner,
        // `open` is only reachable through a registered VFS.
        _ => unreachable!("the WAL buffer VFS is used before it is registered"),
    }
}

/// A log file: SQLite's handle, then what is gathered, then the platform's own handle (its size
/// is only known at run time, so it sits at [`INNER_AT`], not in the struct).
#[repr(C)]
struct LogFile {
    base: ffi::sqlite3_file,
    /// Bytes written by SQLite and not yet by the platform's VFS, from `pending_at` on.
    pending: Vec<u8>,
    pending_at: i64,
}

/// Where the platform's handle starts inside ours (kept 8-aligned).
const INNER_AT: usize = size_of::<LogFile>().next_multiple_of(8);

/// The platform's handle inside `file` (one of ours).
unsafe fn inner(file: *mut ffi::sqlite3_file) -> *mut ffi::sqlite3_file {
    // SAFETY: SQLite allocated szOsFile bytes for `file`, INNER_AT of them ours.
    unsafe { file.cast::<u8>().add(INNER_AT).cast() }
}

unsafe fn methods(file: *mut ffi::sqlite3_file) -> &'static ffi::sqlite3_io_methods {
    // SAFETY: the platform's open succeeded, so it set its method table, a static.
    unsafe { &*(*inner(file)).pMethods }
}

unsafe fn log<'a>(file: *mut ffi::sqlite3_file) -> &'a mut LogFile {
    // SAFETY: `file` is one of our log files (only those get LOG_METHODS), initialised by
    // `open`; SQLite never uses one file from two threads at once.
    unsafe { &mut *file.cast::<LogFile>() }
}

unsafe extern "C" fn open(
    _vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    let platform = inner_vfs();
    // SAFETY: SQLite gave us szOsFile bytes at `file`; the platform's open gets the part it
    // asked for, and everything but logs is the platform's file unchanged.
    unsafe {
        let Some(platform_open) = (*platform).xOpen else {
            return ffi::SQLITE_ERROR;
        };
        if flags & ffi::SQLITE_OPEN_WAL == 0 {
            return platform_open(platform, name, file, flags, out_flags);
        }
        (*file).pMethods = ptr::null();
        let rc = platform_open(platform, name, inner(file), flags, out_flags);
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        if (*inner(file)).pMethods.is_null() {
            return ffi::SQLITE_CANTOPEN;
        }
        ptr::write(
            file.cast::<LogFile>(),
            LogFile {
                base: ffi::sqlite3_file {
                    pMethods: &LOG_METHODS,
                },
                pending: Vec::new(),
                pending_at: 0,
            },
        );
        ffi::SQLITE_OK
    }
}

/// Write out what is gathered, in calls of at most [`WRITE_MAX`] bytes.
unsafe fn flush(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: see `log` and `methods`.
    unsafe {
        let log = log(file);
        let write = methods(file).xWrite.expect("every VFS writes");
        let mut rc = ffi::SQLITE_OK;
        let mut offset = log.pending_at;
        for chunk in log.pending.chunks(WRITE_MAX) {
            rc = write(
                inner(file),
                chunk.as_ptr().cast(),
                chunk.len() as c_int,
                offset,
            );
            if rc != ffi::SQLITE_OK {
                break;
            }
            offset += chunk.len() as i64;
        }
        log.pending.clear();
        rc
    }
}

unsafe extern "C" fn log_write(
    file: *mut ffi::sqlite3_file,
    data: *const c_void,
    amount: c_int,
    offset: i64,
) -> c_int {
    // SAFETY: SQLite passes `amount` readable bytes at `data`; each borrow of the file ends
    // before `flush` takes its own.
    unsafe {
        let elsewhere = {
            let log = log(file);
            !log.pending.is_empty() && log.pending_at + log.pending.len() as i64 != offset
        };
        if elsewhere {
            let rc = flush(file);
            if rc != ffi::SQLITE_OK {
                return rc;
            }
        }
        let log = log(file);
        if log.pending.is_empty() {
            log.pending_at = offset;
        }
        let bytes = std::slice::from_raw_parts(data.cast::<u8>(), amount as usize);
        log.pending.extend_from_slice(bytes);
        if log.pending.len() >= PENDING_MAX {
            return flush(file);
        }
        ffi::SQLITE_OK
    }
}

unsafe extern "C" fn log_close(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: the last call on this file: what `open` wrote is dropped here.
    unsafe {
        let flushed = flush(file);
        let close = methods(file).xClose.expect("every VFS closes");
        let closed = close(inner(file));
        ptr::drop_in_place(file.cast::<LogFile>());
        (*file).pMethods = ptr::null();
        if flushed != ffi::SQLITE_OK {
            flushed
        } else {
            closed
        }
    }
}

/// Write out what is gathered, then forward the call; `$name` is the platform's method.
macro_rules! flush_then {
    ($file:expr, $name:ident ( $($arg:expr),* )) => {{
        // SAFETY: see `flush` and `methods`; the arguments are SQLite's, passed on.
        unsafe {
            let rc = flush($file);
            if rc != ffi::SQLITE_OK {
                return rc;
            }
            match methods($file).$name {
                Some(call) => call(inner($file) $(, $arg)*),
                None => ffi::SQLITE_NOTFOUND,
            }
        }
    }};
}

/// Forward the call as it is.
macro_rules! forward {
    ($file:expr, $name:ident ( $($arg:expr),* ), $missing:expr) => {{
        // SAFETY: see `methods`; the arguments are SQLite's, passed on.
        unsafe {
            match methods($file).$name {
                Some(call) => call(inner($file) $(, $arg)*),
                None => $missing,
            }
        }
    }};
}

unsafe extern "C" fn log_read(
    file: *mut ffi::sqlite3_file,
    data: *mut c_void,
    amount: c_int,
    offset: i64,
) -> c_int {
    flush_then!(file, xRead(data, amount, offset))
}

unsafe extern "C" fn log_truncate(file: *mut ffi::sqlite3_file, size: i64) -> c_int {
    flush_then!(file, xTruncate(size))
}

unsafe extern "C" fn log_sync(file: *mut ffi::sqlite3_file, flags: c_int) -> c_int {
    flush_then!(file, xSync(flags))
}

unsafe extern "C" fn log_file_size(file: *mut ffi::sqlite3_file, size: *mut i64) -> c_int {
    flush_then!(file, xFileSize(size))
}

unsafe extern "C" fn log_lock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    forward!(file, xLock(level), ffi::SQLITE_OK)
}

unsafe extern "C" fn log_unlock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    flush_then!(file, xUnlock(level))
}

unsafe extern "C" fn log_check_reserved_lock(
    file: *mut ffi::sqlite3_file,
    out: *mut c_int,
) -> c_int {
    forward!(file, xCheckReservedLock(out), ffi::SQLITE_OK)
}

unsafe extern "C" fn log_file_control(
    file: *mut ffi::sqlite3_file,
    op: c_int,
    arg: *mut c_void,
) -> c_int {
    flush_then!(file, xFileControl(op, arg))
}

unsafe extern "C" fn log_sector_size(file: *mut ffi::sqlite3_file) -> c_int {
    forward!(file, xSectorSize(), 4096)
}

unsafe extern "C" fn log_device_characteristics(file: *mut ffi::sqlite3_file) -> c_int {
    forward!(file, xDeviceCharacteristics(), 0)
}

unsafe extern "C" fn log_shm_map(
    file: *mut ffi::sqlite3_file,
    page: c_int,
    size: c_int,
    extend: c_int,
    out: *mut *mut c_void,
) -> c_int {
    forward!(file, xShmMap(page, size, extend, out), ffi::SQLITE_IOERR)
}

unsafe extern "C" fn log_shm_lock(
    file: *mut ffi::sqlite3_file,
    offset: c_int,
    n: c_int,
    flags: c_int,
) -> c_int {
    forward!(file, xShmLock(offset, n, flags), ffi::SQLITE_IOERR)
}

unsafe extern "C" fn log_shm_barrier(file: *mut ffi::sqlite3_file) {
    forward!(file, xShmBarrier(), ())
}

unsafe extern "C" fn log_shm_unmap(file: *mut ffi::sqlite3_file, delete: c_int) -> c_int {
    forward!(file, xShmUnmap(delete), ffi::SQLITE_OK)
}

unsafe extern "C" fn log_fetch(
    file: *mut ffi::sqlite3_file,
    offset: i64,
    amount: c_int,
    out: *mut *mut c_void,
) -> c_int {
    // SAFETY: `out` is SQLite's to fill; "no mapping" is always an allowed answer.
    let no_mapping = || unsafe {
        *out = ptr::null_mut();
        ffi::SQLITE_OK
    };
    let rc = unsafe { flush(file) };
    if rc != ffi::SQLITE_OK {
        return rc;
    }
    forward!(file, xFetch(offset, amount, out), no_mapping())
}

unsafe extern "C" fn log_unfetch(
    file: *mut ffi::sqlite3_file,
    offset: i64,
    page: *mut c_void,
) -> c_int {
    forward!(file, xUnfetch(offset, page), ffi::SQLITE_OK)
}

static LOG_METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 3,
    xClose: Some(log_close),
    xRead: Some(log_read),
    xWrite: Some(log_write),
    xTruncate: Some(log_truncate),
    xSync: Some(log_sync),
    xFileSize: Some(log_file_size),
    xLock: Some(log_lock),
    xUnlock: Some(log_unlock),
    xCheckReservedLock: Some(log_check_reserved_lock),
    xFileControl: Some(log_file_control),
    xSectorSize: Some(log_sector_size),
    xDeviceCharacteristics: Some(log_device_characteristics),
    xShmMap: Some(log_shm_map),
    xShmLock: Some(log_shm_lock),
    xShmBarrier: Some(log_shm_barrier),
    xShmUnmap: Some(log_shm_unmap),
    xFetch: Some(log_fetch),
    xUnfetch: Some(log_unfetch),
};

#[cfg(test)]
mod tests {
    use rusqlite::{Connection, OpenFlags};

    use super::*;

    fn open_buffered(path: &std::path::Path, cache_pages: i64) -> Connection {
        let conn = Connection::open_with_flags_and_vfs(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
            register().unwrap(),
        )
        .unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA wal_autocheckpoint = 0;",
        )
        .unwrap();
        conn.pragma_update(None, "cache_size", cache_pages).unwrap();
        conn
    }

    /// Commits through the buffered log are seen by another connection as soon as they return,
    /// survive a reopen and a checkpoint.
    fn commits_are_whole_and_readable(cache_pages: i64) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.db");
        let writer = open_buffered(&path, cache_pages);
        writer
            .execute_batch("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB NOT NULL)")
            .unwrap();
        let reader = Connection::open(&path).unwrap();
        let mut expected = 0;
        for batch in 0..20i64 {
            let tx = writer.unchecked_transaction().unwrap();
            // Rows spread over many pages, some of them changed twice in the transaction.
            for i in 0..300i64 {
                let k = (i * 7919 + batch) % 5_000;
                let inserted = tx
                    .execute(
                        "INSERT INTO t (k, v) VALUES (?1, zeroblob(200)) \
                         ON CONFLICT (k) DO UPDATE SET v = zeroblob(300)",
                        [k],
                    )
                    .unwrap();
                assert_eq!(inserted, 1);
            }
            tx.commit().unwrap();
            // The other connection reads the log from the file before the writer reads again.
            let seen: i64 = reader
                .query_row("SELECT count(*) FROM t", [], |row| row.get(0))
                .unwrap();
            expected = writer
                .query_row("SELECT count(*) FROM t", [], |row| row.get(0))
                .unwrap();
            assert_eq!(seen, expected, "batch {batch}");
        }
        let wal = std::fs::metadata(dir.path().join("b.db-wal"))
            .unwrap()
            .len();
        assert!(wal > 1_000_000, "the log holds the commits: {wal} bytes");
        drop(reader);
        drop(writer);
        let again = open_buffered(&path, cache_pages);
        let count: i64 = again
            .query_row("SELECT count(*) FROM t", [], |row| row.get(0))
            .unwrap();
        assert_eq!(count, expected);
        let check: String = again
            .query_row("PRAGMA integrity_check", [], |row| row.get(0))
            .unwrap();
        assert_eq!(check, "ok");
        again
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
            .unwrap();
        let plain = Connection::open(&path).unwrap();
        let count: i64 = plain
            .query_row("SELECT count(*) FROM t", [], |row| row.get(0))
            .unwrap();
        assert_eq!(count, expected);
    }

    /// The writer's own cache holds the transaction: the log is written at the commit's sync.
    #[test]
    fn commits_through_the_buffered_log_are_whole_and_readable() {
        commits_are_whole_and_readable(2_000);
    }

    /// A small cache spills pages into the log before the commit, reads them back and
    /// overwrites them there (writes elsewhere in the file).
    #[test]
    fn spilled_pages_are_read_back_and_overwritten_through_the_buffer() {
        commits_are_whole_and_readable(10);
    }
}
