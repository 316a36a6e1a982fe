//! The binding of a whole row: every column of `messages` is bound, and none is null.

use natter_domain::ConversationId;
use scylla::frame::response::result::{
    CollectionType, ColumnSpec, ColumnType, NativeType, TableSpec,
};
use scylla::serialize::row::{RowSerializationContext, SerializeRow};
use scylla::serialize::writers::RowWriter;
use uuid::Uuid;

use super::*;
use crate::schema::message_columns;

/// The driver's type for the few CQL types `messages` uses.
fn column_type(cql: &str) -> ColumnType<'static> {
    let native = |t| ColumnType::Native(t);
    let frozen_list = |element| ColumnType::Collection {
        frozen: true,
        typ: CollectionType::List(Box::new(element)),
    };
    match cql {
        "uuid" => native(NativeType::Uuid),
        "bigint" => native(NativeType::BigInt),
        "text" => native(NativeType::Text),
        "boolean" => native(NativeType::Boolean),
        "frozen<list<uuid>>" => frozen_list(native(NativeType::Uuid)),
        "frozen<list<frozen<tuple<text, uuid>>>>" => frozen_list(ColumnType::Tuple(vec![
            native(NativeType::Text),
            native(NativeType::Uuid),
        ])),
        other => panic!("no test mapping for CQL type {other}"),
    }
}

/// The insert's bind markers: every column of the table, then the timestamp.
fn insert_markers() -> Vec<ColumnSpec<'static>> {
    let table = TableSpec::owned("ks".into(), "messages".into());
    let mut specs: Vec<ColumnSpec<'static>> = message_columns()
        .into_iter()
        .map(|(name, cql)| ColumnSpec::owned(name, column_type(cql), table.clone()))
        .collect();
    specs.push(ColumnSpec::owned(
        "stamp".into(),
        ColumnType::Native(NativeType::BigInt),
        table,
    ));
    specs
}

/// The length prefix of each serialized value (`-1` would be null, `-2` unset).
fn value_lengths(buf: &[u8], count: usize) -> Vec<i32> {
    let mut lengths = Vec::with_capacity(count);
    let mut at = 0;
    for _ in 0..count {
        let len = i32::from_be_bytes(buf[at..at + 4].try_into().unwrap());
        lengths.push(len);
        at += 4 + usize::try_from(len.max(0)).unwrap();
    }
    assert_eq!(at, buf.len(), "trailing bytes after {count} values");
    lengths
}

fn serialize(row: &StoredMessage) -> Vec<i32> {
    let specs = insert_markers();
    let ctx = RowSerializationContext::from_specs(&specs);
    let mut buf = Vec::new();
    let mut writer = RowWriter::new(&mut buf);
    row.values(3, 42)
        .serialize(&ctx, &mut writer)
        .expect("the row binds to every marker");
    assert_eq!(writer.value_count(), specs.len());
    value_lengths(&buf, specs.len())
}

/// A brand-new message with every optional field absent: the case most tempting to bind as
/// nulls (no reply, never edited, no mentions, no reactions, no previous version).
fn bare_message() -> StoredMessage {
    StoredMessage {
        conversation_id: ConversationId(Uuid::now_v7()),
        seq: 3_001,
        id: 77,
        sender_id: Uuid::now_v7(),
        client_msg_id: "c-1".into(),
        reply_to_seq: 0,
        created_at_ms: 1_800_000_000_000,
        current: Version {
            mod_seq: 9,
            text: String::new(),
            ..Version::none()
        },
        prev: Version::none(),
    }
}

#[test]
fn every_column_is_bound_and_none_is_null() {
    let lengths = serialize(&bare_message());
    assert_eq!(lengths.len(), message_columns().len() + 1);
    for ((name, _), len) in message_columns().iter().zip(&lengths) {
        assert!(*len >= 0, "column {name} bound as {len} (null or unset)");
    }
    assert!(lengths.iter().all(|len| *len >= 0), "{lengths:?}");
}

#[test]
fn a_changed_message_binds_both_versions() {
    let mut row = bare_message();
    let user = Uuid::now_v7();
    row.reply_to_seq = 12;
    row.prev = row.current.clone();
    row.current = Version {
        mod_seq: 10,
        text: "edited".into(),
        mentions: vec![user],
        edited_at_ms: 1_800_000_000_500,
        deleted: false,
        reactions: vec![("👍".into(), user)],
        attachments: "[]".into(),
    };
    assert!(serialize(&row).iter().all(|len| *len >= 0));
}

#[test]
fn read_columns_are_the_table_minus_the_partition_key() {
    let table: Vec<String> = message_columns()
        .into_iter()
        .map(|(name, _)| name)
        .filter(|name| name != "conversation_id" && name != "bucket")
        .collect();
    let read: Vec<String> = MESSAGE_COLUMNS
        .split(',')
        .map(|c| c.trim().to_owned())
        .collect();
    assert_eq!(read, table);
}

#[test]
fn sentinels_read_back_as_absent() {
    let row = bare_message();
    let message = row.message(&row.current).unwrap();
    assert_eq!(message.reply_to_seq, None);
    assert_eq!(message.edited_at_ms, None);
    assert!(message.mentions.is_empty() && message.reactions.is_empty());
    let mut replied = row.clone();
    replied.reply_to_seq = 5;
    assert_eq!(
        replied.message(&replied.current).unwrap().reply_to_seq,
        Some(5)
    );
}

#[test]
fn reactions_group_by_earliest_remaining() {
    let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let groups = group_reactions(&[("❤️".into(), c), ("👍".into(), a), ("❤️".into(), b)]);
    let shape: Vec<(&str, Vec<Uuid>)> = groups
        .iter()
        .map(|g| (g.emoji.as_str(), g.user_ids.iter().map(|u| u.0).collect()))
        .collect();
    assert_eq!(shape, vec![("❤️", vec![c, b]), ("👍", vec![a])]);
}
