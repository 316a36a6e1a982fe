//! Keeps the kernel from lending the services' ports to other sockets.
//!
//! Every fixed port of the services lies in Linux's ephemeral range (32768-60999), from which the
//! kernel picks the local port of outgoing connections and of `bind(0)`. A test's client that
//! happens to get, say, Cassandra's storage port leaves it in TIME_WAIT for a minute, and a
//! Cassandra started meanwhile refuses to bind it. Listing the ports in
//! `net.ipv4.ip_local_reserved_ports` removes them from automatic assignment (an explicit bind,
//! the server's, still works). The setting is machine-wide and lasts until reboot; it needs root,
//! and without it `start` only warns (the rare clash is then retried by hand).

use std::path::Path;

use crate::say;

const SYSCTL: &str = "/proc/sys/net/ipv4/ip_local_reserved_ports";

/// Adds `ports` to the kernel's reserved list; warns (never fails) when it cannot.
pub fn reserve(ports: &[u16]) {
    if let Err(err) = reserve_in(Path::new(SYSCTL), ports) {
        say!(
            "could not reserve ports {ports:?} ({err}); a client may borrow one as its local port"
        );
    }
}

fn reserve_in(file: &Path, ports: &[u16]) -> std::io::Result<()> {
    let current = read_in_one_call(file)?;
    if let Some(list) = with_ports(current.trim(), ports) {
        std::fs::write(file, &list).map_err(|err| {
            std::io::Error::new(
                err.kind(),
                format!("{err}; was {:?}, wrote {list:?}", current.trim()),
            )
        })?;
    }
    Ok(())
}

/// The whole file, read with a single `read`: this sysctl answers a read at a non-zero offset
/// with end-of-file, so `read_to_string`, whose first read is a 32-byte probe for files that
/// report no size (every /proc file), would see a list cut after 32 bytes and write it back.
fn read_in_one_call(file: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut buffer = vec![0; 64 * 1024];
    let length = std::fs::File::open(file)?.read(&mut buffer)?;
    buffer.truncate(length);
    String::from_utf8(buffer)
        .map_err(|err| std::io::Error::new(std::io::ErrorKind::InvalidData, err))
}

/// The kernel's list (`"8080,9000-9010"`) with `ports` added, or `None` when it covers them all.
fn with_ports(list: &str, ports: &[u16]) -> Option<String> {
    let covered = |port: u16| {
        list.split(',').filter(|e| !e.is_empty()).any(|entry| {
            let (low, high) = entry.split_once('-').unwrap_or((entry, entry));
            matches!((low.trim().parse::<u16>(), high.trim().parse::<u16>()),
                (Ok(low), Ok(high)) if (low..=high).contains(&port))
        })
    };
    let mut missing: Vec<u16> = ports.iter().copied().filter(|p| !covered(*p)).collect();
    missing.sort_unstable();
    missing.dedup();
    if missing.is_empty() {
        return None;
    }
    let added = missing
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(",");
    Some(if list.is_empty() {
        added
    } else {
        format!("{list},{added}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_ports_are_appended_once_and_covered_ones_left_alone() {
        assert_eq!(
            with_ports("", &[59042, 57000, 59042]).as_deref(),
            Some("57000,59042")
        );
        assert_eq!(
            with_ports("8080,57000-57010", &[57005, 56379]).as_deref(),
            Some("8080,57000-57010,56379")
        );
        assert_eq!(with_ports("56379,57000-57010", &[57010, 56379]), None);
    }

    #[test]
    fn the_list_is_written_to_the_file_and_a_second_reservation_changes_nothing() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("reserved");
        std::fs::write(&file, "8080\n").expect("write");
        reserve_in(&file, &[56379, 55432]).expect("reserve");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "8080,55432,56379");
        reserve_in(&file, &[55432]).expect("reserve again");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "8080,55432,56379");
    }
}
