//! Group commit for the row every exchange appends: its `exchanges` record (for the token-use
//! monitor and the breaker). A successful refresh's `connection.refreshed` event is not here: it
//! is written in the persist's own commit (`lease::persist`), atomic with the token.
//!
//! One writer task per vault takes whatever records are waiting and writes them with one
//! multi-row INSERT, so a sweep with hundreds of refreshes in flight pays a handful of statements
//! (and commits) where it paid one per row. Nothing is delayed at low load: a row that finds the
//! writer idle is written at once. Each caller waits for its own row's write and gets its error,
//! as with a direct INSERT; a batch that fails is retried row by row, so one bad row fails
//! only its own caller. The rows the vault must write under its lease (claim, persist) are not
//! journalled: they stay single fenced statements.

use sea_orm::{DatabaseConnection, EntityTrait};
use tokio::sync::{mpsc, oneshot};

use crate::entity::exchange;
use crate::error::{Error, Result};

/// Most rows in one INSERT (well under both backends' bound-parameter limits).
const MAX_ROWS: usize = 500;

type Row = exchange::ActiveModel;
type Reply = oneshot::Sender<std::result::Result<(), String>>;

/// The vault's appender for exchange records.
pub(super) struct Journal {
    tx: mpsc::UnboundedSender<(Row, Reply)>,
}

impl Journal {
    /// Starts the writer; it ends when the journal is dropped, after writing what was queued.
    pub(super) fn start(db: DatabaseConnection) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(write_loop(db, rx));
        Self { tx }
    }

    pub(super) async fn exchange(&self, row: exchange::ActiveModel) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send((row, reply))
            .map_err(|_| Error::Internal("the vault's journal writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| Error::Internal("the vault's journal writer has stopped".into()))?
            .map_err(Error::Internal)
    }
}

async fn write_loop(db: DatabaseConnection, mut rx: mpsc::UnboundedReceiver<(Row, Reply)>) {
    while let Some(batch) = super::next_batch(&mut rx, MAX_ROWS).await {
        write::<exchange::Entity, _>(&db, batch).await;
    }
}

/// Writes `rows` in one INSERT, or one by one if that fails; answers each caller.
async fn write<E, A>(db: &DatabaseConnection, rows: Vec<(A, Reply)>)
where
    E: EntityTrait,
    A: sea_orm::ActiveModelTrait<Entity = E> + Clone + Send,
{
    if rows.is_empty() {
        return;
    }
    let all: Vec<A> = rows.iter().map(|(a, _)| a.clone()).collect();
    if E::insert_many(all).exec_without_returning(db).await.is_ok() {
        for (_, reply) in rows {
            reply.send(Ok(())).ok();
        }
        return;
    }
    for (a, reply) in rows {
        let r = E::insert(a)
            .exec_without_returning(db)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string());
        reply.send(r).ok();
    }
}
