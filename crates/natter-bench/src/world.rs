//! The users and rooms of a scenario, created on the target before any load (see
//! [`Target::setup`]): natter registers users and creates conversations over REST; peers need
//! only a token (Centrifugo) or nothing (the relay), and rooms are channel names.

use std::sync::Arc;
use std::time::Instant;

use natter_sdk::Client;

use crate::conn::Identity;
use crate::targets::Target;

/// Every user's password (natter and Synapse).
pub const PASSWORD: &str = "bench-password-1";

#[derive(Debug, Clone)]
pub struct RoomSpec {
    /// User indices; the first one owns the room.
    pub members: Vec<usize>,
    /// A natter direct conversation (exactly two members) rather than a group.
    pub direct: bool,
}

pub struct World {
    /// One per user (each user has one connection, one device).
    pub idents: Vec<Identity>,
    pub room_names: Arc<Vec<String>>,
    pub rooms: Vec<RoomSpec>,
    /// natter only: a REST client per user, for setup-time writes in scenarios.
    pub clients: Vec<Client>,
    pub setup_s: f64,
}

fn rooms_of(n_users: usize, rooms: &[RoomSpec]) -> Vec<Vec<usize>> {
    let mut of = vec![Vec::new(); n_users];
    for (r, room) in rooms.iter().enumerate() {
        for &u in &room.members {
            of[u].push(r);
        }
    }
    of
}

pub async fn build(
    target: &dyn Target,
    n_users: usize,
    rooms: Vec<RoomSpec>,
) -> anyhow::Result<World> {
    let started = Instant::now();
    let of = rooms_of(n_users, &rooms);
    let setup = target.setup(n_users, &rooms).await?;
    let idents = setup
        .tokens
        .into_iter()
        .zip(of)
        .map(|(token, rooms)| Identity { token, rooms })
        .collect();
    Ok(World {
        idents,
        room_names: Arc::new(setup.room_names),
        rooms,
        clients: setup.clients,
        setup_s: started.elapsed().as_secs_f64(),
    })
}

/// Groups of `size` over `n_users` users (the last one may be smaller).
pub fn groups(n_users: usize, size: usize) -> Vec<RoomSpec> {
    (0..n_users)
        .step_by(size)
        .map(|start| RoomSpec {
            members: (start..(start + size).min(n_users)).collect(),
            direct: false,
        })
        .filter(|room| room.members.len() >= 2)
        .collect()
}

/// Every user in one direct conversation (pairs) and one group of `group_size`.
pub fn directs_and_groups(n_users: usize, group_size: usize) -> Vec<RoomSpec> {
    let mut rooms: Vec<RoomSpec> = (0..n_users / 2)
        .map(|p| RoomSpec {
            members: vec![2 * p, 2 * p + 1],
            direct: true,
        })
        .collect();
    rooms.extend(groups(n_users, group_size));
    rooms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rooms_cover_every_user() {
        let rooms = directs_and_groups(20, 10);
        assert_eq!(rooms.len(), 12);
        let of = rooms_of(20, &rooms);
        assert!(of.iter().all(|r| r.len() == 2));
        assert_eq!(
            groups(205, 100)
                .iter()
                .map(|r| r.members.len())
                .collect::<Vec<_>>(),
            vec![100, 100, 5]
        );
    }
}
