//! Splitting large watch responses into fragments, as etcd's `sendFragments` does: a response
//! of at least `max_bytes` with two or more events is sent as several responses with
//! `fragment` set on all but the last; each fragment holds as many events as fit below
//! `max_bytes`, and at least one.

use alloc::vec::Vec;
use oxcd_proto::etcdserverpb::WatchResponse;
use prost::encoding::encoded_len_varint;
use prost::Message;

/// Bytes one event adds to a response (field 11, length-delimited).
fn event_bytes(ev: &oxcd_proto::mvccpb::Event) -> usize {
    let len = ev.encoded_len();
    1 + encoded_len_varint(len as u64) + len
}

/// Cuts the first fragment off `resp`, leaving it in `resp` and returning the rest (to be
/// split again with `continued` set), or `None` when `resp` goes out as it is. `continued`:
/// `resp` is what remained of an earlier split.
pub(super) fn split_first(
    resp: &mut WatchResponse,
    max_bytes: usize,
    continued: bool,
) -> Option<WatchResponse> {
    if !continued && (resp.encoded_len() < max_bytes || resp.events.len() < 2) {
        return None;
    }
    let events = core::mem::take(&mut resp.events);
    resp.fragment = true;
    let mut size = resp.encoded_len();
    let mut taken = 0;
    for ev in &events {
        let add = event_bytes(ev);
        if taken >= 1 && size + add >= max_bytes {
            break;
        }
        size += add;
        taken += 1;
    }
    let mut events = events;
    let rest: Vec<_> = events.split_off(taken);
    resp.events = events;
    if rest.is_empty() {
        resp.fragment = false;
        return None;
    }
    let mut next = resp.clone();
    next.events = rest;
    next.fragment = false;
    Some(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use oxcd_proto::mvccpb::{Event, KeyValue};

    fn ev(n: usize) -> Event {
        Event {
            r#type: 0,
            kv: Some(KeyValue { key: vec![b'k'; 4], value: vec![b'v'; n], ..KeyValue::default() }),
            prev_kv: None,
        }
    }

    fn split_all(resp: WatchResponse, max: usize) -> Vec<WatchResponse> {
        let mut out = Vec::new();
        let mut cur = resp;
        let mut continued = false;
        for _ in 0..100 {
            match split_first(&mut cur, max, continued) {
                Some(rest) => {
                    out.push(cur);
                    cur = rest;
                    continued = true;
                }
                None => {
                    out.push(cur);
                    return out;
                }
            }
        }
        panic!("did not finish");
    }

    #[test]
    fn small_or_single_event_responses_are_not_split() {
        let r =
            WatchResponse { watch_id: 1, events: vec![ev(10), ev(10)], ..WatchResponse::default() };
        assert_eq!(split_all(r.clone(), 1000), vec![r]);
        let big = WatchResponse { watch_id: 1, events: vec![ev(5000)], ..WatchResponse::default() };
        assert_eq!(split_all(big.clone(), 1000), vec![big]);
    }

    #[test]
    fn large_responses_split_below_the_limit_with_fragment_flags() {
        let events: Vec<Event> = (0..10).map(|_| ev(300)).collect();
        let r = WatchResponse { watch_id: 3, events: events.clone(), ..WatchResponse::default() };
        let parts = split_all(r, 1000);
        assert!(parts.len() >= 4, "{}", parts.len());
        let flags: Vec<bool> = parts.iter().map(|p| p.fragment).collect();
        assert!(flags[..flags.len() - 1].iter().all(|f| *f));
        assert!(!flags[flags.len() - 1]);
        for p in &parts {
            assert!(p.encoded_len() < 1000 || p.events.len() == 1);
            assert_eq!(p.watch_id, 3);
        }
        let rejoined: Vec<Event> = parts.into_iter().flat_map(|p| p.events).collect();
        assert_eq!(rejoined, events);
    }
}
