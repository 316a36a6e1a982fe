//! The presence contract every backend meets, on the in-process presence of the embedded server.

use std::sync::Arc;

use natter_domain::ports::PresenceStore;
use natter_server::embedded::MemoryPresence;

async fn memory() -> Arc<dyn PresenceStore> {
    Arc::new(MemoryPresence::default())
}

natter_conformance::presence_conformance_suite!(memory);
