//! A connection's sends waiting for their commit, answered in the order they came.
//!
//! A client may send its next command before the last one is answered. Run one at a time, each
//! of a client's pipelined sends waited for a commit of its own, so a connection sending
//! faster than one message per commit queued the rest in its socket, and each commit carried at
//! most one message per connection. A send now stops waiting once the store has queued it
//! (`commands::start`): the connection reads and queues the next one meanwhile, so a client's
//! burst commits in one batch and its acks go out together, in one write. Each send keeps its
//! place in its conversation from the moment it is queued, so the order is the client's; the
//! answers are taken oldest first, so the acks are in the client's order too.
//!
//! Only consecutive sends overlap: any other command waits until every send before it is
//! answered, so it sees them committed (a history page after a send holds the message). A
//! connection holds at most [`PIPELINE_MAX`] unanswered sends; beyond, it reads nothing more from
//! the client until the oldest is answered (the socket's buffers then hold the client back).

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::FutureExt;

/// Unanswered sends per connection at most.
pub(super) const PIPELINE_MAX: usize = 64;

/// An answer to come: the encoded frame.
pub(super) type Answer<'a> = Pin<Box<dyn Future<Output = Bytes> + Send + 'a>>;

/// The unanswered sends of one connection, oldest first. Created with its first send and
/// dropped with its last answer: an idle connection keeps none.
#[derive(Default)]
pub(super) struct Pipeline<'a> {
    waiting: VecDeque<Answer<'a>>,
}

impl<'a> Pipeline<'a> {
    pub(super) fn push(&mut self, answer: Answer<'a>) {
        self.waiting.push_back(answer);
    }

    /// An answer already known, kept behind the ones before it.
    pub(super) fn push_ready(&mut self, answer: Bytes) {
        self.push(Box::pin(std::future::ready(answer)));
    }

    pub(super) fn is_full(&self) -> bool {
        self.waiting.len() >= PIPELINE_MAX
    }

    pub(super) fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// The oldest answer, once it is there. Only the oldest is polled: sends commit in the
    /// order they were queued, so a later one is rarely answered first, and when the oldest is,
    /// [`Self::ready_now`] takes the ones right behind it.
    pub(super) fn poll_oldest(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let Some(oldest) = self.waiting.front_mut() else {
            return Poll::Ready(None);
        };
        let answer = std::task::ready!(oldest.as_mut().poll(cx));
        self.waiting.pop_front();
        Poll::Ready(Some(answer))
    }

    /// The oldest answer if it is there now, without waiting.
    pub(super) fn ready_now(&mut self) -> Option<Bytes> {
        let answer = self.waiting.front_mut()?.as_mut().now_or_never()?;
        self.waiting.pop_front();
        Some(answer)
    }

    /// The oldest answer, waiting for it.
    pub(super) async fn next(&mut self) -> Option<Bytes> {
        std::future::poll_fn(|cx| self.poll_oldest(cx)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn answers_come_oldest_first_whatever_order_they_are_ready_in() {
        let (first, first_done) = tokio::sync::oneshot::channel::<()>();
        let (second, second_done) = tokio::sync::oneshot::channel::<()>();
        let mut pipeline = Pipeline::default();
        pipeline.push(Box::pin(async move {
            let _ = first_done.await;
            Bytes::from_static(b"1")
        }));
        pipeline.push(Box::pin(async move {
            let _ = second_done.await;
            Bytes::from_static(b"2")
        }));
        pipeline.push_ready(Bytes::from_static(b"3"));
        second.send(()).expect("second waits");
        assert_eq!(pipeline.ready_now(), None, "the oldest is not answered yet");
        first.send(()).expect("first waits");
        assert_eq!(pipeline.next().await.as_deref(), Some(&b"1"[..]));
        assert_eq!(pipeline.ready_now().as_deref(), Some(&b"2"[..]));
        assert_eq!(pipeline.ready_now().as_deref(), Some(&b"3"[..]));
        assert!(pipeline.is_empty());
        assert_eq!(pipeline.next().await, None);
    }

    #[test]
    fn a_pipeline_is_full_at_its_bound() {
        let mut pipeline = Pipeline::default();
        for _ in 0..PIPELINE_MAX - 1 {
            pipeline.push_ready(Bytes::new());
        }
        assert!(!pipeline.is_full());
        pipeline.push_ready(Bytes::new());
        assert!(pipeline.is_full());
    }
}
