//! Every limit natter enforces, in one place. Units are in the name.

/// Longest message text, in Unicode scalar values.
pub const MESSAGE_TEXT_MAX_CHARS: usize = 4_000;
/// Longest client-chosen idempotency key.
pub const CLIENT_MSG_ID_MAX_BYTES: usize = 64;
/// Most users one message may mention.
pub const MENTIONS_MAX: usize = 50;
/// Files one message may carry.
pub const ATTACHMENTS_MAX: usize = 10;
/// Username length bounds (after lower-casing).
pub const USERNAME_MIN_CHARS: usize = 3;
pub const USERNAME_MAX_CHARS: usize = 32;
pub const DISPLAY_NAME_MAX_CHARS: usize = 64;
pub const PASSWORD_MIN_CHARS: usize = 8;
/// Bounded so that hashing cost cannot be inflated by a huge password. Characters, not bytes, like
/// every text limit, so that the OpenAPI document (JSON Schema counts characters) states it exactly.
pub const PASSWORD_MAX_CHARS: usize = 256;
/// Least zxcvbn score (0 to 4) a new password needs: 3 is "safely unguessable" against an
/// online attack and slows an offline one (10^8 to 10^10 guesses).
pub const PASSWORD_MIN_SCORE: u8 = 3;
/// Characters of a new password the strength estimator reads: its cost grows with length, and
/// a longer one is past any threshold anyway.
pub const PASSWORD_SCORED_CHARS: usize = 100;
pub const DEVICE_NAME_MAX_CHARS: usize = 64;
pub const GROUP_NAME_MAX_CHARS: usize = 100;
pub const TOPIC_MAX_CHARS: usize = 500;
/// Longest emoji reaction (ZWJ sequences such as families take up to ~35 bytes).
pub const REACTION_MAX_BYTES: usize = 64;
/// Longest `:shortcode:` reaction name, colons excluded.
pub const REACTION_SHORTCODE_MAX_CHARS: usize = 30;
/// Longest reaction of either kind in characters, as the OpenAPI document states it: a
/// `:shortcode:` with its colons (every listed emoji is shorter; a unit test checks).
pub const REACTION_MAX_CHARS: usize = REACTION_SHORTCODE_MAX_CHARS + 2;
/// Distinct reaction keys a single message may carry.
pub const REACTIONS_PER_MESSAGE_MAX: usize = 50;
/// Members of one group conversation.
pub const GROUP_MEMBERS_MAX: usize = 10_000;
/// Members that may be named when a group is created.
pub const GROUP_INITIAL_MEMBERS_MAX: usize = 500;
/// History page size bounds.
pub const HISTORY_PAGE_DEFAULT: u32 = 50;
pub const HISTORY_PAGE_MAX: u32 = 200;
/// Conversation list page bounds.
pub const CONVERSATION_PAGE_DEFAULT: u32 = 100;
pub const CONVERSATION_PAGE_MAX: u32 = 500;
/// User search result bounds.
pub const USER_SEARCH_MAX: u32 = 50;
/// How long a typing indicator lasts unless refreshed.
pub const TYPING_TTL_MS: i64 = 6_000;
/// Changes replayed per query while a reconnecting client catches up (it pages until done).
pub const RESUME_PAGE: u32 = 500;
/// Presence and profile changes are pushed to co-members of conversations up to this size only:
/// pushing them to every member of every large group grows with the square of its size. Members
/// of larger groups read presence with `GET /users/{id}`.
pub const PRESENCE_GROUP_MAX_MEMBERS: i64 = 100;
/// How often buffered last-seen times are written to storage.
pub const LAST_SEEN_FLUSH_MS: u64 = 2_000;
/// Longest uploaded file name, in bytes of UTF-8 (what most file systems allow).
pub const FILE_NAME_MAX_BYTES: usize = 255;
/// Stale uploads the collector removes per pass, so one pass never holds the store for long.
pub const FILE_COLLECT_BATCH: u32 = 100;
/// Push devices a user may have; registering one more unregisters the oldest (reinstalled apps
/// leave dead tokens behind, which must not lock a user out).
pub const PUSH_DEVICES_MAX: u32 = 20;
