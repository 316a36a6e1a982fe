//! The writer thread asks to be scheduled ahead of the process's other threads (a lower nice
//! value), where the process may: every durable write waits for it.

use natter_store_sqlite::SqliteStore;

/// The nice value of the thread `task` of this process (`/proc/self/task/<tid>/stat`, field 19).
fn nice_of(task: &std::path::Path) -> i64 {
    let stat = std::fs::read_to_string(task.join("stat")).expect("stat");
    // The name (field 2) may hold spaces: count fields after its closing parenthesis.
    let after_name = &stat[stat.rfind(')').expect("name") + 2..];
    after_name
        .split(' ')
        .nth(16)
        .and_then(|field| field.parse().ok())
        .expect("nice")
}

#[tokio::test]
async fn the_writer_thread_runs_at_a_higher_priority_where_the_process_may() {
    let dir = tempfile::tempdir().unwrap();
    let _store = SqliteStore::open(&dir.path().join("natter.db"))
        .await
        .unwrap();
    let own = nice_of(std::path::Path::new("/proc/thread-self"));
    // Whether this process may lower a nice value (root or CAP_SYS_NICE): try on this thread's
    // own value, then put it back.
    // SAFETY: plain system calls on the calling thread.
    let may = unsafe {
        let thread = libc::gettid() as libc::id_t;
        let lowered = libc::setpriority(libc::PRIO_PROCESS, thread, (own - 1) as i32) == 0;
        libc::setpriority(libc::PRIO_PROCESS, thread, own as i32);
        lowered
    };
    let writers = nice_of(&super::writer_thread());
    if may {
        assert!(writers < own, "writer nice {writers}, this thread {own}");
    } else {
        assert_eq!(writers, own, "left at the default without the permission");
    }
}
