//! The storage conformance suite: one set of cases, written only against the storage ports of
//! `natter-domain`, that every backend (SQLite; PostgreSQL; PostgreSQL with Cassandra bodies) must
//! pass. The port traits document the contract in prose; these cases pin it down, so a service
//! written against the traits behaves the same on every backend.
//!
//! # Running it against a backend
//!
//! In the backend's integration tests:
//!
//! ```ignore
//! async fn fresh_stores() -> natter_conformance::Stores { /* open an empty store */ }
//! natter_conformance::conformance_suite!(fresh_stores);
//! ```
//!
//! The macro expands to one `#[tokio::test(flavor = "multi_thread", worker_threads = 2)]` per
//! case, grouped in modules named like the case modules here, so the calling crate must have
//! `tokio` (features `macros`, `rt-multi-thread`) among its dev-dependencies. The factory is any
//! expression callable with no arguments that returns a future of [`Stores`] (an `async fn` or a
//! closure returning an `async` block); it runs once per case.
//!
//! Cases use fresh random ids and per-case random username prefixes, so a factory may hand out
//! the same database to every case (useful for servers that are slow to provision), as long as
//! the cases can run concurrently against it.

use std::any::Any;
use std::sync::Arc;

use natter_domain::ports::{AccountStore, ConversationStore, MessageStore};

pub mod accounts;
pub mod avatars;
pub mod concurrency;
pub mod conversations;
pub mod files;
pub mod messages;
pub mod presence;
pub mod push;
pub mod push_queue;
pub mod search;
pub mod support;
pub mod sync;

/// The three stores of one backend, as the services see them.
#[derive(Clone)]
pub struct Stores {
    pub accounts: Arc<dyn AccountStore>,
    pub conversations: Arc<dyn ConversationStore>,
    pub messages: Arc<dyn MessageStore>,
    /// Anything the backend needs kept alive while a case runs (a temporary directory, a
    /// container handle); dropped after the case.
    pub guard: Option<Arc<dyn Any + Send + Sync>>,
}

impl Stores {
    /// All three ports from one backend value.
    pub fn from_backend<S>(backend: S) -> Self
    where
        S: AccountStore + ConversationStore + MessageStore + Clone,
    {
        Self {
            accounts: Arc::new(backend.clone()),
            conversations: Arc::new(backend.clone()),
            messages: Arc::new(backend),
            guard: None,
        }
    }

    /// Keep `guard` alive as long as these stores.
    pub fn with_guard(mut self, guard: impl Any + Send + Sync) -> Self {
        self.guard = Some(Arc::new(guard));
        self
    }
}

/// Expands to one `#[tokio::test]` per conformance case; see the crate docs.
#[macro_export]
macro_rules! conformance_suite {
    ($factory:expr) => {
        $crate::__conformance_tests! {
            ($factory)
            accounts {
                create_and_fetch_user,
                username_taken_is_conflict,
                search_users_by_prefix,
                search_users_by_display_name,
                set_display_name_and_last_seen,
                set_password_revokes_the_other_sessions,
                refresh_past_the_cutoff_expires_the_session,
                sessions_lifecycle,
                refresh_rotation_and_reuse_detection,
                refresh_after_revoke_is_invalid,
            }
            conversations {
                create_group_with_members,
                direct_is_unique_per_pair,
                update_conversation_metadata,
                add_and_remove_members,
                rejoin_gets_fresh_cursors_and_moves_to_end,
                new_member_starts_at_current_seq,
                set_role_and_mute,
                mark_read_clamps_and_never_lowers,
                conversations_ordered_by_activity,
                summary_counts_unread_and_mentions,
                contacts_are_current_co_members,
                contacts_within_a_limit_follow_joins_and_leaves,
                a_direct_conversation_counts_for_presence_once_replied,
                titles_name_groups_and_direct_peers,
                summaries_of_a_set_of_conversations,
            }
            messages {
                append_assigns_gap_free_seq,
                duplicate_client_msg_id_returns_original,
                edit_changes_text_and_bumps_mod_seq,
                mentions_are_kept_once_in_order_of_first_mention,
                pages_carry_each_messages_mentions_and_reactions,
                delete_is_soft_and_final,
                attachments_are_kept_in_order_until_deleted,
                reactions_aggregate_in_order,
                change_of_unknown_message_is_not_found,
                history_pages_in_both_directions,
                changes_since_orders_by_mod_seq,
            }
            sync {
                initial_sync_returns_all_current,
                cursor_advances_past_seen_changes,
                own_cursor_changes_sync_only_to_self,
                removal_is_reported_then_rejoin,
                metadata_and_membership_changes_sync,
                message_changes_sync,
                a_new_clients_cursor_is_current_and_loses_nothing,
            }
            concurrency {
                concurrent_appends_are_gap_free,
                concurrent_duplicate_sends_create_one,
                concurrent_direct_creation_has_one_winner,
                concurrent_reactions_are_all_counted,
                concurrent_refresh_rotation_has_one_winner,
                concurrent_mark_read_never_lowers,
                concurrent_failing_appends_do_not_disturb_others,
            }
        }
    };
}

/// Expands to one `#[tokio::test]` per presence case (`presence.rs`). The factory returns a
/// future of `Arc<dyn PresenceStore>`, called once per case.
#[macro_export]
macro_rules! presence_conformance_suite {
    ($factory:expr) => {
        mod presence_conformance {
            #[allow(unused_imports)]
            use super::*;
            $crate::__presence_tests!(
                ($factory)
                first_connection_comes_online_last_goes_offline,
                online_lists_exactly_the_connected_users,
                concurrent_connections_flip_exactly_once,
            );
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __presence_tests {
    (($factory:expr) $($case:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let presence: ::std::sync::Arc<dyn ::natter_domain::ports::PresenceStore> =
                    ($factory)().await;
                $crate::presence::$case(presence).await;
            }
        )*
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_tests {
    (($factory:expr) $($module:ident { $($case:ident),* $(,)? })*) => {
        $(
            mod $module {
                #[allow(unused_imports)]
                use super::*;
                $(
                    #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $case() {
                        let stores: $crate::Stores = ($factory)().await;
                        $crate::$module::$case(stores).await;
                    }
                )*
            }
        )*
    };
}

/// Expands to one `#[tokio::test]` per push pipeline case (`push_queue.rs`). The factory
/// returns a future of [`push_queue::PushPipeline`], called once per case.
#[macro_export]
macro_rules! push_queue_conformance_suite {
    ($factory:expr) => {
        mod push_queue_conformance {
            #[allow(unused_imports)]
            use super::*;
            $crate::__push_queue_tests!(
                ($factory)
                a_message_is_queued_with_its_commit_and_planned_once,
                queued_messages_before_several_bounds_come_in_one_read,
                a_look_at_the_queue_is_written_in_one_call_in_order,
                reading_past_a_push_queues_one_withdraw,
                claims_keep_device_order_are_fair_and_come_back_after_a_crash,
                concurrent_claims_never_overlap,
                the_badge_counts_unread_messages_of_others,
                a_change_to_what_is_shown_is_queued_and_a_withdraw_forgets_it,
                an_edits_update_is_added_while_the_first_push_is_in_flight,
            );
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __push_queue_tests {
    (($factory:expr) $($case:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let pipeline: $crate::push_queue::PushPipeline = ($factory)().await;
                $crate::push_queue::$case(pipeline).await;
            }
        )*
    };
}

/// Expands to one `#[tokio::test]` per message search case (`search.rs`). The factory returns a
/// future of [`search::SearchBed`], called once per case.
#[macro_export]
macro_rules! search_conformance_suite {
    ($factory:expr) => {
        mod search_conformance {
            #[allow(unused_imports)]
            use super::*;
            $crate::__search_tests!(
                ($factory)
                words_fold_accents_case_and_width,
                every_word_must_match_prefixes_and_phrases,
                cjk_runs_match_as_phrases,
                only_current_members_find_and_only_since_they_joined,
                filters_narrow_the_hits,
                newest_first_pages_follow_the_cursor,
                relevance_puts_the_best_match_first_and_pages,
                edits_and_deletes_change_what_is_found,
            );
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __search_tests {
    (($factory:expr) $($case:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let bed: $crate::search::SearchBed = ($factory)().await;
                $crate::search::$case(bed).await;
            }
        )*
    };
}
