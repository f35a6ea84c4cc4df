//! Storage work that must not block the loop: `Maintenance.Snapshot` (etcd's snapshot format,
//! a bbolt file and its SHA-256, sent in 32 KiB messages as etcd does) and
//! `Maintenance.Defragment`. Each runs on its own thread with a clone of the storage and
//! reports through a channel and the loop's waker.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError};
use std::sync::Arc;

use mio::Waker;
use oxcd_proto::etcdserverpb as pb;
use oxcd_proto::json;
use oxcd_proto::service::Method;
use oxcd_storage_lmdb::bbolt::{plan_bbolt_snapshot, write_planned_bbolt_snapshot};
use oxcd_storage_lmdb::LmdbStorage;
use prost::Message;

use super::Driver;
use crate::api::http as http_api;
use crate::transport::{CallId, ClientTransport, GrpcStatus, SendStatus};

/// etcd's snapshot message size.
pub const SNAPSHOT_CHUNK_BYTES: usize = 32 * 1024;
/// Chunks buffered between a snapshot thread and the loop.
const SNAPSHOT_CHANNEL_CHUNKS: usize = 8;
/// Snapshots streaming at once.
const SNAPSHOTS_MAX: usize = 4;

/// What an admin check guards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AdminAction {
    /// Stream a snapshot (gRPC stream, or gateway streamed JSON).
    Snapshot { gateway: bool },
    /// Defragment storage.
    Defragment { gateway: bool },
}

enum Chunk {
    /// The whole stream's size, known once the snapshot is planned (before any data).
    Size(u64),
    Data(Vec<u8>),
    Done(Result<(), String>),
}

struct ChunkWriter {
    tx: SyncSender<Chunk>,
    buf: Vec<u8>,
    waker: Arc<Waker>,
}

impl ChunkWriter {
    fn send(&mut self, data: Vec<u8>) -> io::Result<()> {
        self.tx.send(Chunk::Data(data)).map_err(|_| io::Error::other("snapshot receiver gone"))?;
        let _ = self.waker.wake();
        Ok(())
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        while self.buf.len() >= SNAPSHOT_CHUNK_BYTES {
            let rest = self.buf.split_off(SNAPSHOT_CHUNK_BYTES);
            let chunk = std::mem::replace(&mut self.buf, rest);
            self.send(chunk)?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

struct SnapshotJob {
    rx: Receiver<Chunk>,
    gateway: bool,
    header: pb::ResponseHeader,
    /// The chunk received last, held back until we know whether it is the final one.
    held: Option<Vec<u8>>,
    sent_bytes: u64,
    /// The stream's size once planned (before that, the bytes in use: an estimate), for
    /// `remaining_bytes`.
    estimate_bytes: u64,
    paused: bool,
}

/// Snapshot and defragment jobs in flight.
pub(crate) struct Workers {
    storage: LmdbStorage,
    waker: Arc<Waker>,
    snapshots: BTreeMap<CallId, SnapshotJob>,
    defrag: Option<Receiver<Result<(), String>>>,
    defrag_waiters: Vec<(CallId, bool, pb::ResponseHeader)>,
}

impl Workers {
    pub(crate) fn new(storage: LmdbStorage, waker: Arc<Waker>) -> Self {
        Workers {
            storage,
            waker,
            snapshots: BTreeMap::new(),
            defrag: None,
            defrag_waiters: Vec::new(),
        }
    }

    /// Starts `action` for `call` once its admin check passed.
    pub(crate) fn start(
        &mut self,
        call: CallId,
        action: AdminAction,
        header: pb::ResponseHeader,
    ) -> Started {
        match action {
            AdminAction::Snapshot { gateway } => {
                if self.snapshots.len() >= SNAPSHOTS_MAX {
                    return Started::Refused(gateway);
                }
                let (tx, rx) = mpsc::sync_channel(SNAPSHOT_CHANNEL_CHUNKS);
                let storage = self.storage.clone();
                let waker = self.waker.clone();
                let estimate_bytes = self.storage.size_in_use_bytes();
                let spawned =
                    std::thread::Builder::new().name("oxcd-snapshot".into()).spawn(move || {
                        let mut w = ChunkWriter { tx, buf: Vec::new(), waker };
                        // etcd's format (a bbolt file and its SHA-256), so `etcdctl
                        // snapshot status/restore` read what `snapshot save` stored.
                        let view = storage.snapshot_view();
                        let written = plan_bbolt_snapshot(&view).and_then(|plan| {
                            let _ = w.tx.send(Chunk::Size(plan.total_bytes()));
                            write_planned_bbolt_snapshot(&view, &plan, &mut w)
                        });
                        drop(view);
                        let result = match written {
                            Ok(_) => {
                                let last = std::mem::take(&mut w.buf);
                                if last.is_empty() {
                                    Ok(())
                                } else {
                                    w.send(last).map_err(|e| e.to_string())
                                }
                            }
                            Err(e) => Err(e.to_string()),
                        };
                        let _ = w.tx.send(Chunk::Done(result));
                        let _ = w.waker.wake();
                    });
                if spawned.is_err() {
                    return Started::Refused(gateway);
                }
                let job = SnapshotJob {
                    rx,
                    gateway,
                    header,
                    held: None,
                    sent_bytes: 0,
                    estimate_bytes,
                    paused: false,
                };
                self.snapshots.insert(call, job);
                Started::Snapshot(gateway)
            }
            AdminAction::Defragment { gateway } => {
                self.defrag_waiters.push((call, gateway, header));
                if self.defrag.is_none() {
                    let (tx, rx) = mpsc::channel();
                    let storage = self.storage.clone();
                    let waker = self.waker.clone();
                    let spawned =
                        std::thread::Builder::new().name("oxcd-defrag".into()).spawn(move || {
                            tracing::info!("defragmenting storage");
                            let result = storage.defragment().map(|report| {
                                tracing::info!(
                                    before = report.size_before_bytes,
                                    after = report.size_after_bytes,
                                    pause = ?report.write_pause,
                                    took = ?report.total,
                                    "defragmented storage"
                                );
                            });
                            let _ = tx.send(result.map_err(|e| e.to_string()));
                            let _ = waker.wake();
                        });
                    match spawned {
                        Ok(_) => self.defrag = Some(rx),
                        Err(e) => {
                            let (tx, rx) = mpsc::channel();
                            let _ = tx.send(Err(e.to_string()));
                            self.defrag = Some(rx);
                        }
                    }
                }
                Started::Defragment
            }
        }
    }

    pub(crate) fn cancel_snapshot(&mut self, call: CallId) {
        self.snapshots.remove(&call);
    }

    pub(crate) fn resume(&mut self, call: CallId) {
        if let Some(job) = self.snapshots.get_mut(&call) {
            job.paused = false;
        }
    }

    /// Drops every snapshot in progress (their threads stop at their next write).
    pub(crate) fn stop(&mut self) {
        self.snapshots.clear();
    }

    /// Moves ready snapshot chunks to their calls; answers finished defragmentations.
    fn pump(&mut self, client: &mut ClientTransport) {
        let calls: Vec<CallId> = self.snapshots.keys().copied().collect();
        for call in calls {
            let Some(job) = self.snapshots.get_mut(&call) else { continue };
            if pump_snapshot(client, call, job) {
                self.snapshots.remove(&call);
            }
        }
        let finished = match &self.defrag {
            Some(rx) => match rx.try_recv() {
                Ok(result) => Some(result),
                Err(TryRecvError::Empty) => None,
                Err(TryRecvError::Disconnected) => {
                    Some(Err("defragmentation thread died".to_owned()))
                }
            },
            None => None,
        };
        if let Some(result) = finished {
            self.defrag = None;
            for (call, gateway, header) in self.defrag_waiters.drain(..) {
                let response = pb::DefragmentResponse { header: Some(header) };
                match (&result, gateway) {
                    (Ok(()), false) => {
                        client.reply_unary(call, Ok(response.encode_to_vec()));
                    }
                    (Ok(()), true) => {
                        let body = json::to_json(&response).into_bytes();
                        client.http_reply(call, 200, &http_api::json_headers(), body);
                    }
                    (Err(e), false) => {
                        client.reply_unary(call, Err(GrpcStatus::new(2, e.clone())));
                    }
                    (Err(e), true) => {
                        let (status, body) = http_api::gateway_error(2, e);
                        client.http_reply(call, status, &http_api::json_headers(), body);
                    }
                }
            }
        }
    }
}

/// What [`Workers::start`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Started {
    /// A snapshot streams (gateway or not).
    Snapshot(bool),
    /// Too many snapshots at once (gateway or not).
    Refused(bool),
    /// A defragmentation runs (or the caller joined one).
    Defragment,
}

fn send(
    client: &mut ClientTransport,
    call: CallId,
    job: &SnapshotJob,
    blob: Vec<u8>,
    remaining: u64,
) -> SendStatus {
    let message = pb::SnapshotResponse {
        header: Some(job.header.clone()),
        remaining_bytes: remaining,
        blob,
        version: String::new(),
    };
    let bytes = message.encode_to_vec();
    if job.gateway {
        let mut line = String::new();
        if json::stream_result_to_json(Method::Snapshot, &bytes, &mut line).is_err() {
            return SendStatus::Gone;
        }
        client.http_stream_chunk(call, line.as_bytes())
    } else {
        client.stream_send(call, &bytes)
    }
}

fn finish(client: &mut ClientTransport, call: CallId, gateway: bool, status: GrpcStatus) {
    if gateway {
        if status.code != 0 {
            let mut body = String::new();
            json::stream_error_body(
                oxcd_proto::grpc::Code::from_u32(status.code),
                &status.message,
                &mut body,
            );
            let _ = client.http_stream_chunk(call, body.as_bytes());
        }
        client.http_stream_end(call);
    } else {
        client.stream_finish(call, status);
    }
}

/// Returns true when the job is over.
fn pump_snapshot(client: &mut ClientTransport, call: CallId, job: &mut SnapshotJob) -> bool {
    while !job.paused {
        match job.rx.try_recv() {
            Ok(Chunk::Size(total)) => job.estimate_bytes = total,
            Ok(Chunk::Data(data)) => {
                let Some(prev) = job.held.replace(data) else { continue };
                job.sent_bytes += prev.len() as u64;
                // Not the last message: at least one byte remains.
                let remaining = job.estimate_bytes.saturating_sub(job.sent_bytes).max(1);
                match send(client, call, job, prev, remaining) {
                    SendStatus::Sent => {}
                    SendStatus::Full => job.paused = true,
                    SendStatus::Overflow | SendStatus::Gone => return true,
                }
            }
            Ok(Chunk::Done(Ok(()))) => {
                let last = job.held.take().unwrap_or_default();
                if !matches!(send(client, call, job, last, 0), SendStatus::Sent | SendStatus::Full)
                {
                    return true;
                }
                finish(client, call, job.gateway, GrpcStatus::ok());
                return true;
            }
            Ok(Chunk::Done(Err(e))) => {
                tracing::warn!(error = %e, "snapshot failed");
                finish(client, call, job.gateway, GrpcStatus::new(2, e));
                return true;
            }
            Err(TryRecvError::Empty) => return false,
            Err(TryRecvError::Disconnected) => {
                finish(client, call, job.gateway, GrpcStatus::new(13, "snapshot thread died"));
                return true;
            }
        }
    }
    false
}

impl Driver {
    /// Pumps worker results into the transport (after a wake-up).
    pub(super) fn poll_workers(&mut self, _now: std::time::Instant) {
        self.workers.pump(&mut self.client);
    }

    /// Called when an admin check passed: starts the job and opens gateway streams.
    pub(super) fn start_admin(&mut self, call: CallId, action: AdminAction) {
        let header = self.node.response_header();
        match self.workers.start(call, action, header) {
            Started::Snapshot(true) => {
                if !self.client.http_stream_start(call, 200, &http_api::json_headers()) {
                    self.workers.cancel_snapshot(call);
                }
            }
            Started::Snapshot(false) | Started::Defragment => {}
            Started::Refused(gateway) => {
                let status = crate::api::api_status(oxcd_core::ApiError::TooManyRequests);
                if gateway {
                    let (code, body) = http_api::gateway_error(status.code, &status.message);
                    self.client.http_reply(call, code, &http_api::json_headers(), body);
                } else {
                    self.client.stream_finish(call, status);
                }
            }
        }
        self.workers.pump(&mut self.client);
    }
}
