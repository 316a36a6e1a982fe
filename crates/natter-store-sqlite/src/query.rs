//! The three shapes every statement of the store takes, on cached prepared statements, with
//! errors mapped once ([`crate::errors::sql`]).

use natter_domain::ports::StoreResult;
use rusqlite::{Connection, Params, Row};

use crate::errors::sql;

/// Run a statement that returns no rows; the number of rows it changed.
pub(crate) fn exec(conn: &Connection, text: &str, params: impl Params) -> StoreResult<usize> {
    conn.prepare_cached(text)
        .and_then(|mut statement| statement.execute(params))
        .map_err(sql)
}

/// The first row, if any.
pub(crate) fn one<T>(
    conn: &Connection,
    text: &str,
    params: impl Params,
    map: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
) -> StoreResult<Option<T>> {
    let mut statement = conn.prepare_cached(text).map_err(sql)?;
    let mut rows = statement.query(params).map_err(sql)?;
    match rows.next().map_err(sql)? {
        Some(row) => map(row).map(Some).map_err(sql),
        None => Ok(None),
    }
}

/// Every row.
pub(crate) fn all<T>(
    conn: &Connection,
    text: &str,
    params: impl Params,
    map: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
) -> StoreResult<Vec<T>> {
    let mut statement = conn.prepare_cached(text).map_err(sql)?;
    statement
        .query_map(params, map)
        .and_then(|rows| rows.collect())
        .map_err(sql)
}
