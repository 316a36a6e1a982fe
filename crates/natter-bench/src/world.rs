//! The users and rooms of a scenario, created on the target before any load: natter users are
//! registered and their conversations created over REST (through the SDK); peers need only a
//! token (Centrifugo) or nothing (the relay), and rooms are channel names.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use futures_util::{StreamExt, TryStreamExt, stream};
use natter_sdk::Client;
use uuid::Uuid;

use crate::conn::{Identity, Proto};
use crate::targets::{self, Server};

/// Concurrent REST calls while setting up (the server has 2 cores too).
const SETUP_CONCURRENCY: usize = 16;
/// Members natter accepts when a group is created; the rest are added one by one.
const GROUP_INITIAL_MEMBERS_MAX: usize = 499;
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

pub async fn build(server: &Server, n_users: usize, rooms: Vec<RoomSpec>) -> anyhow::Result<World> {
    let started = Instant::now();
    let of = rooms_of(n_users, &rooms);
    let (tokens, names, clients) = match server.proto {
        Proto::Natter => {
            let (clients, ids) = register(server, n_users).await?;
            let names = create_rooms(&clients, &ids, &rooms).await?;
            let tokens = clients
                .iter()
                .map(|c| c.access_token().unwrap_or_default())
                .collect();
            (tokens, names, clients)
        }
        Proto::Centrifugo => {
            let tokens = (0..n_users)
                .map(|u| targets::centrifugo_token(&format!("u{u}")))
                .collect::<anyhow::Result<_>>()?;
            (tokens, peer_room_names(rooms.len()), Vec::new())
        }
        Proto::Bun => (
            vec![String::new(); n_users],
            peer_room_names(rooms.len()),
            Vec::new(),
        ),
    };
    let idents = tokens
        .into_iter()
        .zip(of)
        .map(|(token, rooms)| Identity { token, rooms })
        .collect();
    Ok(World {
        idents,
        room_names: Arc::new(names),
        rooms,
        clients,
        setup_s: started.elapsed().as_secs_f64(),
    })
}

fn peer_room_names(n: usize) -> Vec<String> {
    (0..n).map(|r| format!("r{r}")).collect()
}

async fn register(server: &Server, n_users: usize) -> anyhow::Result<(Vec<Client>, Vec<Uuid>)> {
    let base = Client::new(&server.base_url())?;
    let registered: Vec<(usize, Client, Uuid)> = stream::iter(0..n_users)
        .map(|u| {
            let client = base.anonymous();
            async move {
                let tokens = client
                    .register(&format!("bench{u:06}"), PASSWORD)
                    .await
                    .with_context(|| format!("register user {u}"))?;
                anyhow::Ok((u, client, tokens.user.id))
            }
        })
        .buffer_unordered(SETUP_CONCURRENCY)
        .try_collect()
        .await?;
    let mut sorted = registered;
    sorted.sort_by_key(|(u, _, _)| *u);
    Ok(sorted.into_iter().map(|(_, c, id)| (c, id)).unzip())
}

async fn create_rooms(
    clients: &[Client],
    ids: &[Uuid],
    rooms: &[RoomSpec],
) -> anyhow::Result<Vec<String>> {
    let created: Vec<(usize, Uuid)> = stream::iter(rooms.iter().enumerate())
        .map(|(r, room)| async move { anyhow::Ok((r, create_room(clients, ids, r, room).await?)) })
        .buffer_unordered(SETUP_CONCURRENCY)
        .try_collect()
        .await?;
    let mut names = vec![String::new(); rooms.len()];
    for (r, id) in created {
        names[r] = id.to_string();
    }
    Ok(names)
}

async fn create_room(
    clients: &[Client],
    ids: &[Uuid],
    r: usize,
    room: &RoomSpec,
) -> anyhow::Result<Uuid> {
    let owner = &clients[room.members[0]];
    if room.direct {
        let summary = owner
            .create_direct(ids[room.members[1]])
            .await
            .context("create direct")?;
        return Ok(summary.conversation.id);
    }
    let others: Vec<Uuid> = room.members[1..].iter().map(|u| ids[*u]).collect();
    let first = &others[..others.len().min(GROUP_INITIAL_MEMBERS_MAX)];
    let summary = owner
        .create_group(&format!("room {r}"), None, first)
        .await
        .context("create group")?;
    let id = summary.conversation.id;
    // Membership changes serialise on the conversation's lock; a few in flight keep it busy.
    stream::iter(&others[first.len()..])
        .map(|user| async move {
            owner
                .add_member(id, *user, None)
                .await
                .context("add member")
        })
        .buffer_unordered(4)
        .try_collect::<Vec<_>>()
        .await?;
    Ok(id)
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
