//! Connecting the tests to the PostgreSQL server named by `NATTER_TEST_POSTGRES_URL`. An
//! unreachable server fails the test with a message saying so (never a silent skip).

use natter_conformance::Stores;
use natter_conformance::support::Fixture;
use natter_domain::ConversationId;
use natter_store_postgres::PgStore;
use tokio::sync::OnceCell;

pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:55432/natter";

pub fn url() -> String {
    std::env::var("NATTER_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned())
}

fn unreachable(url: &str, error: impl std::fmt::Display) -> ! {
    panic!(
        "PostgreSQL at {url} is unreachable: {error}\n\
         start it, or point NATTER_TEST_POSTGRES_URL at one (the database must exist)"
    )
}

/// Migrations run once per test binary (every case shares the database; cases use random ids).
static MIGRATED: OnceCell<()> = OnceCell::const_new();

/// A store on its own small pool (each case runs on its own runtime, so pools are per case).
pub async fn store(pool_size: u32) -> PgStore {
    let url = url();
    let store = PgStore::connect(&url, pool_size)
        .await
        .unwrap_or_else(|e| unreachable(&url, e));
    MIGRATED
        .get_or_init(|| async { store.migrate().await.expect("migrate") })
        .await;
    store
}

/// A fixture (users, conversations, messages) on `store`.
pub fn fixture(store: &PgStore) -> Fixture {
    Fixture::new(Stores::from_backend(store.clone()))
}

/// A plain connection, for what the ports cannot do (holding a transaction open).
pub async fn connection() -> sqlx::PgConnection {
    use sqlx::Connection;
    let url = url();
    sqlx::PgConnection::connect(&url)
        .await
        .unwrap_or_else(|e| unreachable(&url, e))
}

/// A group of two fresh users; returns the group.
pub async fn group(f: &Fixture) -> ConversationId {
    let [alice, bob] = f.users(&["alice", "bob"]).await[..] else {
        unreachable!()
    };
    f.group(alice, &[bob]).await.id
}

/// The URL of the database [`own_store`] makes for `name`.
pub fn own_url(name: &str) -> String {
    let url = url();
    let (server, database) = url.rsplit_once('/').expect("database url");
    format!("{server}/{database}_{name}")
}

/// A plain connection to `url`.
pub async fn connection_to(url: &str) -> sqlx::PgConnection {
    use sqlx::Connection;
    sqlx::PgConnection::connect(url)
        .await
        .unwrap_or_else(|e| unreachable(url, e))
}

/// A store on a database of its own, `<database>_<name>`, dropped and created again: for cases
/// whose operations act on every row of a table (push claims take whatever is due), which
/// must not see other cases' rows or an earlier run's.
pub async fn own_store(name: &str, pool_size: u32) -> PgStore {
    use sqlx::Connection;
    let url = url();
    let (server, database) = url.rsplit_once('/').expect("database url");
    let own = format!("{database}_{name}");
    let mut admin = sqlx::PgConnection::connect(&url)
        .await
        .unwrap_or_else(|e| unreachable(&url, e));
    for statement in [
        format!("DROP DATABASE IF EXISTS {own} WITH (FORCE)"),
        format!("CREATE DATABASE {own}"),
    ] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
            .execute(&mut admin)
            .await
            .expect("recreate the database");
    }
    let own_url = format!("{server}/{own}");
    let store = PgStore::connect(&own_url, pool_size)
        .await
        .unwrap_or_else(|e| unreachable(&own_url, e));
    store.migrate().await.expect("migrate");
    store
}
