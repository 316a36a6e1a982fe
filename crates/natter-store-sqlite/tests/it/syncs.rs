//! The store's commits sync with `fdatasync`, not `fsync` (SQLite built with `HAVE_FDATASYNC`,
//! `.cargo/config.toml`). Both make the written bytes durable; `fsync` also writes the file's
//! timestamps, which change with every write, so at a few commits a second and below every
//! commit paid a second write to the disk and waited for it.
//!
//! Shown by refusing `fsync` to the store: a seccomp filter makes it fail on the thread that
//! opens the store and on every thread that thread starts (the store's writer, checkpointer and
//! readers, the runtime's workers). A store that still called `fsync` could not commit.

use natter_conformance::Stores;
use natter_conformance::support::Fixture;
use natter_store_sqlite::SqliteStore;

/// Make `fsync` fail with `EIO` on this thread and the threads it starts from now on.
fn refuse_fsync() {
    use libc::{BPF_ABS, BPF_JEQ, BPF_JMP, BPF_K, BPF_LD, BPF_RET, BPF_W, sock_filter};
    let statement = |code: u32, k: u32| sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    };
    let fsync = u32::try_from(libc::SYS_fsync).expect("a syscall number");
    let mut program = [
        // The system call's number: offset 0 of `struct seccomp_data`.
        statement(BPF_LD | BPF_W | BPF_ABS, 0),
        // fsync: the next instruction, anything else: the one after it.
        sock_filter {
            code: (BPF_JMP | BPF_JEQ | BPF_K) as u16,
            jt: 0,
            jf: 1,
            k: fsync,
        },
        statement(BPF_RET | BPF_K, libc::SECCOMP_RET_ERRNO | libc::EIO as u32),
        statement(BPF_RET | BPF_K, libc::SECCOMP_RET_ALLOW),
    ];
    let filter = libc::sock_fprog {
        len: program.len() as u16,
        filter: program.as_mut_ptr(),
    };
    // SAFETY: plain system calls on this thread; the program outlives the call, which copies it.
    unsafe {
        assert_eq!(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
        assert_eq!(
            libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER,
                &filter as *const libc::sock_fprog,
            ),
            0,
            "seccomp filter refused: {}",
            std::io::Error::last_os_error()
        );
        // The filter works: fsync now fails here.
        let file = tempfile::tempfile().expect("a temporary file");
        let fd = std::os::fd::AsRawFd::as_raw_fd(&file);
        assert_eq!(libc::fsync(fd), -1, "fsync still allowed");
    }
}

#[test]
fn commits_sync_without_fsync() {
    std::thread::spawn(|| {
        refuse_fsync();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let dir = tempfile::tempdir().expect("temp dir");
            let path = dir.path().join("natter.db");
            let store = SqliteStore::open(&path)
                .await
                .expect("the store opens (and migrates) without fsync");
            let f = Fixture::new(Stores::from_backend(store.clone()));
            let [alice, bob] = f.users(&["alice", "bob"]).await[..] else {
                unreachable!()
            };
            let group = f.group(alice, &[bob]).await;
            let sent = f.send(group.id, alice, "synced with fdatasync").await;
            store.close().await;
            drop(f);

            let reopened = SqliteStore::open(&path).await.expect("reopen");
            let g = Fixture::new(Stores::from_backend(reopened));
            assert_eq!(g.messages.message(group.id, 1).await.unwrap(), Some(sent));
        });
    })
    .join()
    .expect("the store commits with fsync refused");
}
