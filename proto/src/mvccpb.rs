//! Package `mvccpb`: the stored key-value pair and the watch event (etcd's `api/mvccpb/kv.proto`).

use alloc::vec::Vec;

/// `mvccpb.KeyValue`: one key at one revision.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct KeyValue {
    /// `key = 1`: the key; never empty in a stored pair.
    #[prost(bytes = "vec", tag = "1")]
    pub key: Vec<u8>,
    /// `create_revision = 2`: revision of the key's last creation.
    #[prost(int64, tag = "2")]
    pub create_revision: i64,
    /// `mod_revision = 3`: revision of the key's last modification.
    #[prost(int64, tag = "3")]
    pub mod_revision: i64,
    /// `version = 4`: modifications since creation (1 for a fresh key; 0 after deletion).
    #[prost(int64, tag = "4")]
    pub version: i64,
    /// `value = 5`.
    #[prost(bytes = "vec", tag = "5")]
    pub value: Vec<u8>,
    /// `lease = 6`: attached lease id, 0 for none.
    #[prost(int64, tag = "6")]
    pub lease: i64,
}

/// `mvccpb.Event`: one change seen by a watcher.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Event {
    /// `type = 1`: an [`event::EventType`].
    #[prost(enumeration = "event::EventType", tag = "1")]
    pub r#type: i32,
    /// `kv = 2`: the pair after a put; for a delete, the key with the deletion's mod revision.
    #[prost(message, optional, tag = "2")]
    pub kv: Option<KeyValue>,
    /// `prev_kv = 3`: the pair before the event, when the watcher asked for it.
    #[prost(message, optional, tag = "3")]
    pub prev_kv: Option<KeyValue>,
}

/// Types nested in `mvccpb.Event`.
pub mod event {
    /// `mvccpb.Event.EventType`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum EventType {
        /// `PUT = 0`.
        Put = 0,
        /// `DELETE = 1`.
        Delete = 1,
    }
}
