//! SQLite's own page cache, with the truncate that ends every write transaction made cheap again.
//!
//! When a write transaction ends, SQLite drops the cached pages past the end of the database
//! (`pcache1Truncate`, called by `pager_end_transaction`). That is meant to cost nothing: the
//! cache remembers the largest page number it has held and, when that is close to the limit,
//! looks only at the hash slots in between. But a B-tree split (`balance_nonroot`) moves a page
//! to the locking page's number for a moment and back (`sqlite3PagerRekey`); the locking page
//! (page 262,145 at 4 KiB pages: the one holding byte 2^30, which no database uses) is then the
//! largest number the cache remembers, and it never comes down, so every commit after a split
//! walks the whole hash table and every page of the cache: the writer's 64 MiB, up to 16,384
//! pages chased one cache miss at a time. Measured (`perf record` on the server under
//! `natter-bench latency --rates 2000`): 10% of the writer thread's time in that walk.
//!
//! This cache wraps SQLite's (taken with `SQLITE_CONFIG_GETPCACHE2`) and keeps, per cache, its own
//! bound of the largest page number held, the locking page's apart. A truncate with nothing at
//! or past its limit is not passed on; any other call is SQLite's cache unchanged. The bound only
//! grows with the pages that enter (a fetch that returns a page, a page moved to a new number)
//! and comes down only when a truncate is passed on, so a page SQLite's truncate would have
//! dropped is never skipped.
//!
//! [`install`] must run before SQLite starts (`sqlite3_initialize`; any connection's open starts
//! it). If something started it first, SQLite refuses the configuration and keeps its own cache.

use std::ffi::{c_int, c_uint, c_void};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicPtr, Ordering};

use rusqlite::ffi;

/// SQLite's locking byte (`PENDING_BYTE`, unless a test build moves it): its page is never used.
const PENDING_BYTE: u32 = 0x4000_0000;

/// SQLite's own page cache, the one every cache of ours wraps; set once by [`install`].
static SQLITE_CACHE: AtomicPtr<ffi::sqlite3_pcache_methods2> = AtomicPtr::new(std::ptr::null_mut());

/// Whether [`install`] put our cache in place.
static INSTALLED: OnceLock<bool> = OnceLock::new();

/// Whether this process's SQLite uses our cache.
pub(crate) fn installed() -> bool {
    INSTALLED.get() == Some(&true)
}

/// Put our cache in place of SQLite's, once; it stays SQLite's own if SQLite had already
/// started ([`installed`] says which).
pub(crate) fn install() {
    INSTALLED.get_or_init(|| {
        let mut sqlite = std::mem::MaybeUninit::<ffi::sqlite3_pcache_methods2>::zeroed();
        // SAFETY: GETPCACHE2 writes SQLite's page cache methods to the pointer; both calls are
        // refused (SQLITE_MISUSE) once SQLite has started, and PCACHE2 copies what it is given.
        unsafe {
            if ffi::sqlite3_config(ffi::SQLITE_CONFIG_GETPCACHE2, sqlite.as_mut_ptr())
                != ffi::SQLITE_OK
            {
                tracing::debug!("SQLite had started before the store: its own page cache stays");
                return false;
            }
            let sqlite: &'static ffi::sqlite3_pcache_methods2 =
                Box::leak(Box::new(sqlite.assume_init()));
            SQLITE_CACHE.store(std::ptr::from_ref(sqlite).cast_mut(), Ordering::Release);
            let ours = methods(sqlite);
            ffi::sqlite3_config(ffi::SQLITE_CONFIG_PCACHE2, &raw const ours) == ffi::SQLITE_OK
        }
    });
}

/// Our methods over `sqlite`'s.
fn methods(sqlite: &'static ffi::sqlite3_pcache_methods2) -> ffi::sqlite3_pcache_methods2 {
    ffi::sqlite3_pcache_methods2 {
        iVersion: sqlite.iVersion,
        pArg: std::ptr::from_ref(sqlite).cast_mut().cast(),
        xInit: Some(init),
        xShutdown: Some(shutdown),
        xCreate: Some(create),
        xCachesize: Some(cachesize),
        xPagecount: Some(pagecount),
        xFetch: Some(fetch),
        xUnpin: Some(unpin),
        xRekey: Some(rekey),
        xTruncate: Some(truncate),
        xDestroy: Some(destroy),
        xShrink: Some(shrink),
    }
}

/// One cache: SQLite's, and what we know of the page numbers in it.
struct Cache {
    sqlite: &'static ffi::sqlite3_pcache_methods2,
    inner: *mut ffi::sqlite3_pcache,
    /// No page in the cache has a larger number, the locking page's apart.
    largest: c_uint,
    /// The locking page's number at this cache's page size.
    locking_page: c_uint,
    /// Whether a page may be at the locking page's number.
    locking_page_held: bool,
}

impl Cache {
    fn holds(&mut self, key: c_uint) {
        if key == self.locking_page {
            self.locking_page_held = true;
        } else {
            self.largest = self.largest.max(key);
        }
    }

    /// Whether SQLite's truncate to `limit` would find a page to drop.
    fn may_hold_from(&self, limit: c_uint) -> bool {
        self.largest >= limit || (self.locking_page_held && self.locking_page >= limit)
    }

    fn truncated(&mut self, limit: c_uint) {
        self.largest = self.largest.min(limit.saturating_sub(1));
        if self.locking_page >= limit {
            self.locking_page_held = false;
        }
    }
}

/// A wrapped cache over `sqlite`'s methods, for [`create`] and the tests.
fn create_over(
    sqlite: &'static ffi::sqlite3_pcache_methods2,
    page_size: c_int,
    extra: c_int,
    purgeable: c_int,
) -> *mut ffi::sqlite3_pcache {
    let Some(sqlite_create) = sqlite.xCreate else {
        return std::ptr::null_mut();
    };
    // SAFETY: SQLite's own create, with the arguments SQLite gave us.
    let inner = unsafe { sqlite_create(page_size, extra, purgeable) };
    if inner.is_null() {
        return inner;
    }
    let locking_page = u32::try_from(page_size)
        .ok()
        .filter(|&size| size > 0)
        .map_or(0, |size| PENDING_BYTE / size + 1);
    Box::into_raw(Box::new(Cache {
        sqlite,
        inner,
        largest: 0,
        locking_page,
        locking_page_held: false,
    }))
    .cast()
}

/// The cache behind SQLite's handle. SQLite uses one cache from one thread at a time.
unsafe fn cache<'a>(handle: *mut ffi::sqlite3_pcache) -> &'a mut Cache {
    // SAFETY: every handle SQLite passes us is one `create_over` made.
    unsafe { &mut *handle.cast::<Cache>() }
}

unsafe extern "C" fn init(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the pArg of `methods`: SQLite's methods, leaked by `install`.
    let sqlite = unsafe { &*arg.cast::<ffi::sqlite3_pcache_methods2>() };
    match sqlite.xInit {
        // SAFETY: SQLite's own init with its own argument.
        Some(sqlite_init) => unsafe { sqlite_init(sqlite.pArg) },
        None => ffi::SQLITE_OK,
    }
}

unsafe extern "C" fn shutdown(arg: *mut c_void) {
    // SAFETY: as in `init`.
    let sqlite = unsafe { &*arg.cast::<ffi::sqlite3_pcache_methods2>() };
    if let Some(sqlite_shutdown) = sqlite.xShutdown {
        // SAFETY: SQLite's own shutdown with its own argument.
        unsafe { sqlite_shutdown(sqlite.pArg) }
    }
}

unsafe extern "C" fn create(
    page_size: c_int,
    extra: c_int,
    purgeable: c_int,
) -> *mut ffi::sqlite3_pcache {
    let sqlite = SQLITE_CACHE.load(Ordering::Acquire);
    if sqlite.is_null() {
        return std::ptr::null_mut();
    }
    // SAFETY: set by `install` to methods leaked for the process, before SQLite could call this.
    create_over(unsafe { &*sqlite }, page_size, extra, purgeable)
}

unsafe extern "C" fn cachesize(handle: *mut ffi::sqlite3_pcache, pages: c_int) {
    // SAFETY: a handle of ours; SQLite's method on its own cache.
    unsafe {
        let cache = cache(handle);
        if let Some(f) = cache.sqlite.xCachesize {
            f(cache.inner, pages);
        }
    }
}

unsafe extern "C" fn pagecount(handle: *mut ffi::sqlite3_pcache) -> c_int {
    // SAFETY: as in `cachesize`.
    unsafe {
        let cache = cache(handle);
        cache.sqlite.xPagecount.map_or(0, |f| f(cache.inner))
    }
}

unsafe extern "C" fn fetch(
    handle: *mut ffi::sqlite3_pcache,
    key: c_uint,
    create: c_int,
) -> *mut ffi::sqlite3_pcache_page {
    // SAFETY: as in `cachesize`.
    unsafe {
        let cache = cache(handle);
        let Some(f) = cache.sqlite.xFetch else {
            return std::ptr::null_mut();
        };
        let page = f(cache.inner, key, create);
        if !page.is_null() {
            cache.holds(key);
        }
        page
    }
}

unsafe extern "C" fn unpin(
    handle: *mut ffi::sqlite3_pcache,
    page: *mut ffi::sqlite3_pcache_page,
    discard: c_int,
) {
    // SAFETY: as in `cachesize`.
    unsafe {
        let cache = cache(handle);
        if let Some(f) = cache.sqlite.xUnpin {
            f(cache.inner, page, discard);
        }
    }
}

unsafe extern "C" fn rekey(
    handle: *mut ffi::sqlite3_pcache,
    page: *mut ffi::sqlite3_pcache_page,
    old: c_uint,
    new: c_uint,
) {
    // SAFETY: as in `cachesize`.
    unsafe {
        let cache = cache(handle);
        if let Some(f) = cache.sqlite.xRekey {
            f(cache.inner, page, old, new);
        }
        if old == cache.locking_page {
            cache.locking_page_held = false;
        }
        cache.holds(new);
    }
}

unsafe extern "C" fn truncate(handle: *mut ffi::sqlite3_pcache, limit: c_uint) {
    // SAFETY: as in `cachesize`.
    unsafe {
        let cache = cache(handle);
        if !cache.may_hold_from(limit) {
            return;
        }
        if let Some(f) = cache.sqlite.xTruncate {
            f(cache.inner, limit);
        }
        cache.truncated(limit);
    }
}

unsafe extern "C" fn destroy(handle: *mut ffi::sqlite3_pcache) {
    // SAFETY: a handle of ours, never used again: SQLite destroys its cache, we free ours.
    unsafe {
        let cache = Box::from_raw(handle.cast::<Cache>());
        if let Some(f) = cache.sqlite.xDestroy {
            f(cache.inner);
        }
    }
}

unsafe extern "C" fn shrink(handle: *mut ffi::sqlite3_pcache) {
    // SAFETY: as in `cachesize`.
    unsafe {
        let cache = cache(handle);
        if let Some(f) = cache.sqlite.xShrink {
            f(cache.inner);
        }
    }
}

#[cfg(test)]
mod tests {
    //! The wrapper over a recording stand-in for SQLite's cache: which truncates reach it. (The
    //! stores' own tests run every statement through the real one, wrapped.)

    use std::collections::BTreeSet;
    use std::sync::Mutex;

    use super::*;

    /// Pages held, and the limits of the truncates that reached the stand-in.
    #[derive(Default)]
    struct Recorded {
        pages: BTreeSet<c_uint>,
        truncates: Vec<c_uint>,
    }

    static RECORDED: Mutex<Option<Recorded>> = Mutex::new(None);
    /// The tests share the stand-in's record: one at a time.
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

    fn with<T>(f: impl FnOnce(&mut Recorded) -> T) -> T {
        f(RECORDED
            .lock()
            .unwrap()
            .get_or_insert_with(Recorded::default))
    }

    /// A distinct non-null page pointer per key (never dereferenced).
    fn page_of(key: c_uint) -> *mut ffi::sqlite3_pcache_page {
        std::ptr::without_provenance_mut(key as usize * 16)
    }

    unsafe extern "C" fn s_create(_: c_int, _: c_int, _: c_int) -> *mut ffi::sqlite3_pcache {
        std::ptr::without_provenance_mut(8)
    }
    unsafe extern "C" fn s_fetch(
        _: *mut ffi::sqlite3_pcache,
        key: c_uint,
        create: c_int,
    ) -> *mut ffi::sqlite3_pcache_page {
        with(|r| {
            if create != 0 {
                r.pages.insert(key);
            }
            if r.pages.contains(&key) {
                page_of(key)
            } else {
                std::ptr::null_mut()
            }
        })
    }
    unsafe extern "C" fn s_rekey(
        _: *mut ffi::sqlite3_pcache,
        _: *mut ffi::sqlite3_pcache_page,
        old: c_uint,
        new: c_uint,
    ) {
        with(|r| {
            r.pages.remove(&old);
            r.pages.insert(new);
        });
    }
    unsafe extern "C" fn s_truncate(_: *mut ffi::sqlite3_pcache, limit: c_uint) {
        with(|r| {
            r.pages.retain(|&key| key < limit);
            r.truncates.push(limit);
        });
    }
    unsafe extern "C" fn s_destroy(_: *mut ffi::sqlite3_pcache) {}

    /// The stand-in's methods (leaked: a cache keeps them for its life, as SQLite's are).
    fn stand_in() -> &'static ffi::sqlite3_pcache_methods2 {
        Box::leak(Box::new(ffi::sqlite3_pcache_methods2 {
            iVersion: 1,
            pArg: std::ptr::null_mut(),
            xInit: None,
            xShutdown: None,
            xCreate: Some(s_create),
            xCachesize: None,
            xPagecount: None,
            xFetch: Some(s_fetch),
            xUnpin: None,
            xRekey: Some(s_rekey),
            xTruncate: Some(s_truncate),
            xDestroy: Some(s_destroy),
            xShrink: None,
        }))
    }

    /// A cache of 4 KiB pages over the stand-in, fresh, and the locking page's number.
    fn fresh() -> (
        *mut ffi::sqlite3_pcache,
        c_uint,
        std::sync::MutexGuard<'static, ()>,
    ) {
        let guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        *RECORDED.lock().unwrap() = Some(Recorded::default());
        (create_over(stand_in(), 4096, 0, 1), 262_145, guard)
    }

    fn truncates() -> Vec<c_uint> {
        with(|r| std::mem::take(&mut r.truncates))
    }

    #[test]
    fn a_commit_after_a_split_does_not_pass_its_truncate_on() {
        let (handle, locking_page, _guard) = fresh();
        unsafe {
            for key in 1..=100 {
                fetch(handle, key, 1);
            }
            // A split: page 40 to the locking page's number and back.
            rekey(handle, page_of(40), 40, locking_page);
            rekey(handle, page_of(locking_page), locking_page, 40);
            truncate(handle, 101);
            assert_eq!(truncates(), Vec::<c_uint>::new());
            destroy(handle);
        }
    }

    #[test]
    fn a_truncate_with_pages_at_or_past_its_limit_is_passed_on_and_drops_them() {
        let (handle, locking_page, _guard) = fresh();
        unsafe {
            for key in 1..=100 {
                fetch(handle, key, 1);
            }
            truncate(handle, 90);
            assert_eq!(truncates(), vec![90]);
            assert!(with(|r| r.pages.iter().all(|&key| key < 90)));
            // Nothing left past 89: the next one is not passed on, one lower is.
            truncate(handle, 90);
            assert_eq!(truncates(), Vec::<c_uint>::new());
            truncate(handle, 89);
            assert_eq!(truncates(), vec![89]);
            // A page moved to a larger number counts.
            rekey(handle, page_of(10), 10, 500);
            truncate(handle, 200);
            assert_eq!(truncates(), vec![200]);
            // A page left at the locking page's number counts for a limit below it.
            rekey(handle, page_of(20), 20, locking_page);
            truncate(handle, 150);
            assert_eq!(truncates(), vec![150]);
            assert!(with(|r| !r.pages.contains(&locking_page)));
            truncate(handle, 150);
            assert_eq!(truncates(), Vec::<c_uint>::new());
            destroy(handle);
        }
    }

    #[test]
    fn a_fetch_that_finds_nothing_adds_nothing() {
        let (handle, _, _guard) = fresh();
        unsafe {
            for key in 1..=10 {
                fetch(handle, key, 1);
            }
            assert!(fetch(handle, 5_000, 0).is_null());
            truncate(handle, 11);
            assert_eq!(truncates(), Vec::<c_uint>::new());
            destroy(handle);
        }
    }
}
