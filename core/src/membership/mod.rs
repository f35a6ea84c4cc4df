//! The cluster's members, as etcd keeps them: id, name, peer and client URLs, learner flag, and
//! the ids that were removed (never to come back).
//!
//! Changes arrive as committed Raft configuration changes; [`Membership`] validates each one
//! against etcd's rules at apply time (so concurrent proposals that conflict are decided the same
//! way on every member) and records the result in [`Table::Members`]. Validation before proposing
//! uses the same functions, so a request that would fail is refused without touching the log.

use crate::backend::{Backend, Overlay, Table};
use crate::error::ApiError;
use crate::ids::NodeId;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::string::String;
use alloc::vec::Vec;
use bincode::{Decode, Encode};
use core::ops::ControlFlow;

/// etcd allows at most one learner at a time.
pub const MAX_LEARNERS: usize = 1;

/// One member of the cluster.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Member {
    /// The member's id.
    pub id: NodeId,
    /// Its `--name`; empty until the member has started and published it.
    pub name: String,
    /// URLs its peers reach it on.
    pub peer_urls: Vec<String>,
    /// URLs clients reach it on; empty until the member has started and published them.
    pub client_urls: Vec<String>,
    /// A learner receives the log but does not vote.
    pub is_learner: bool,
}

/// A change to the member list, as carried in a Raft configuration change.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum MemberChange {
    /// Add a voting member or a learner.
    Add(Member),
    /// Remove a member (voter, learner, or the leader itself).
    Remove(NodeId),
    /// Replace a member's peer URLs.
    UpdatePeerUrls {
        /// The member updated.
        id: NodeId,
        /// Its new peer URLs.
        peer_urls: Vec<String>,
    },
    /// Turn a learner into a voting member.
    Promote(NodeId),
}

/// Why a membership change is refused; each maps to etcd's client error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MembershipError {
    /// The id is already a member.
    IdExists,
    /// The id was removed before and can never come back.
    IdRemoved,
    /// No member has this id.
    IdNotFound,
    /// Another member already uses one of the peer URLs.
    PeerUrlExists,
    /// Promote of a member that is not a learner.
    NotLearner,
    /// Adding a learner when the cluster already has [`MAX_LEARNERS`].
    TooManyLearners,
    /// A URL list is empty or malformed.
    BadUrls,
}

impl From<MembershipError> for ApiError {
    fn from(e: MembershipError) -> ApiError {
        match e {
            MembershipError::IdExists => ApiError::MemberExist,
            MembershipError::IdRemoved | MembershipError::IdNotFound => ApiError::MemberNotFound,
            MembershipError::PeerUrlExists => ApiError::PeerUrlExist,
            MembershipError::NotLearner => ApiError::MemberNotLearner,
            MembershipError::TooManyLearners => ApiError::TooManyLearners,
            MembershipError::BadUrls => ApiError::MemberBadUrls,
        }
    }
}

const MEMBER_PREFIX: u8 = b'm';
const REMOVED_PREFIX: u8 = b'r';

/// The member list and the removed ids.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Membership {
    members: BTreeMap<NodeId, Member>,
    removed: BTreeSet<NodeId>,
}

impl Membership {
    /// An empty member list.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads the member list from storage.
    ///
    /// # Errors
    /// A record that does not decode: the data is corrupt.
    pub fn load(backend: &dyn Backend) -> Result<Membership, crate::codec::DecodeError> {
        let mut membership = Membership::new();
        let mut failure = None;
        backend.scan(Table::Members, &[], None, &mut |key, value| {
            match key.first() {
                Some(&MEMBER_PREFIX) => match crate::codec::decode::<Member>(value) {
                    Ok(member) => {
                        membership.members.insert(member.id, member);
                    }
                    Err(e) => {
                        failure = Some(e);
                        return ControlFlow::Break(());
                    }
                },
                Some(&REMOVED_PREFIX) => {
                    if let Some(id) = key.get(1..9).and_then(|b| b.try_into().ok()) {
                        membership.removed.insert(NodeId(u64::from_be_bytes(id)));
                    }
                }
                _ => {}
            }
            ControlFlow::Continue(())
        });
        match failure {
            Some(e) => Err(e),
            None => Ok(membership),
        }
    }

    /// The member with this id.
    #[must_use]
    pub fn get(&self, id: NodeId) -> Option<&Member> {
        self.members.get(&id)
    }

    /// Every member, by id.
    pub fn members(&self) -> impl Iterator<Item = &Member> {
        self.members.values()
    }

    /// The number of members.
    #[must_use]
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// True when there is no member.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// True when `id` was removed from the cluster.
    #[must_use]
    pub fn is_removed(&self, id: NodeId) -> bool {
        self.removed.contains(&id)
    }

    /// Checks `change` against etcd's rules without applying it.
    ///
    /// # Errors
    /// The rule the change breaks.
    pub fn validate(&self, change: &MemberChange) -> Result<(), MembershipError> {
        match change {
            MemberChange::Add(member) => {
                if self.removed.contains(&member.id) {
                    return Err(MembershipError::IdRemoved);
                }
                if self.members.contains_key(&member.id) {
                    return Err(MembershipError::IdExists);
                }
                validate_urls(&member.peer_urls)?;
                self.check_urls_free(member.id, &member.peer_urls)?;
                if member.is_learner
                    && self.members.values().filter(|m| m.is_learner).count() >= MAX_LEARNERS
                {
                    return Err(MembershipError::TooManyLearners);
                }
                Ok(())
            }
            MemberChange::Remove(id) => self.existing(*id).map(|_| ()),
            MemberChange::UpdatePeerUrls { id, peer_urls } => {
                self.existing(*id)?;
                validate_urls(peer_urls)?;
                self.check_urls_free(*id, peer_urls)
            }
            MemberChange::Promote(id) => {
                if self.existing(*id)?.is_learner {
                    Ok(())
                } else {
                    Err(MembershipError::NotLearner)
                }
            }
        }
    }

    /// Validates and applies `change`, recording it in `overlay`.
    ///
    /// # Errors
    /// The rule the change breaks; nothing is changed then.
    pub fn apply(
        &mut self,
        change: &MemberChange,
        overlay: &mut Overlay,
    ) -> Result<(), MembershipError> {
        self.validate(change)?;
        match change {
            MemberChange::Add(member) => {
                self.members.insert(member.id, member.clone());
                self.store(member.id, overlay);
            }
            MemberChange::Remove(id) => {
                self.members.remove(id);
                self.removed.insert(*id);
                overlay.delete(Table::Members, member_key(*id));
                overlay.put(Table::Members, removed_key(*id), Vec::new());
            }
            MemberChange::UpdatePeerUrls { id, peer_urls } => {
                if let Some(m) = self.members.get_mut(id) {
                    m.peer_urls.clone_from(peer_urls);
                }
                self.store(*id, overlay);
            }
            MemberChange::Promote(id) => {
                if let Some(m) = self.members.get_mut(id) {
                    m.is_learner = false;
                }
                self.store(*id, overlay);
            }
        }
        Ok(())
    }

    /// Records a started member's name and client URLs (etcd publishes these through Raft once
    /// a member has started). Unknown ids are ignored.
    pub fn publish_attributes(
        &mut self,
        id: NodeId,
        name: &str,
        client_urls: &[String],
        overlay: &mut Overlay,
    ) {
        if let Some(m) = self.members.get_mut(&id) {
            m.name = String::from(name);
            m.client_urls = client_urls.to_vec();
            self.store(id, overlay);
        }
    }

    fn store(&self, id: NodeId, overlay: &mut Overlay) {
        if let Some(member) = self.members.get(&id) {
            overlay.put(Table::Members, member_key(id), crate::codec::encode(member));
        }
    }

    fn existing(&self, id: NodeId) -> Result<&Member, MembershipError> {
        if self.removed.contains(&id) {
            return Err(MembershipError::IdRemoved);
        }
        self.members.get(&id).ok_or(MembershipError::IdNotFound)
    }

    fn check_urls_free(&self, id: NodeId, urls: &[String]) -> Result<(), MembershipError> {
        let taken = self
            .members
            .values()
            .filter(|m| m.id != id)
            .any(|m| m.peer_urls.iter().any(|u| urls.contains(u)));
        if taken {
            Err(MembershipError::PeerUrlExists)
        } else {
            Ok(())
        }
    }
}

/// True when a Members record decodes (for records arriving in a snapshot).
#[must_use]
pub fn record_is_sound(key: &[u8], value: &[u8]) -> bool {
    match key.split_first() {
        Some((&MEMBER_PREFIX, id)) => {
            id.len() == 8
                && crate::codec::decode::<Member>(value).is_ok_and(|m| m.id.0.to_be_bytes() == id)
        }
        Some((&REMOVED_PREFIX, id)) => id.len() == 8,
        _ => false,
    }
}

fn member_key(id: NodeId) -> Vec<u8> {
    let mut key = Vec::with_capacity(9);
    key.push(MEMBER_PREFIX);
    key.extend_from_slice(&id.0.to_be_bytes());
    key
}

fn removed_key(id: NodeId) -> Vec<u8> {
    let mut key = Vec::with_capacity(9);
    key.push(REMOVED_PREFIX);
    key.extend_from_slice(&id.0.to_be_bytes());
    key
}

/// etcd's rule for member URLs: at least one, each `scheme://host:port` with an http(s) or
/// unix(s) scheme and no path.
fn validate_urls(urls: &[String]) -> Result<(), MembershipError> {
    if urls.is_empty() {
        return Err(MembershipError::BadUrls);
    }
    for url in urls {
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(MembershipError::BadUrls);
        };
        if !matches!(scheme, "http" | "https" | "unix" | "unixs") {
            return Err(MembershipError::BadUrls);
        }
        let Some((host, port)) = rest.rsplit_once(':') else {
            return Err(MembershipError::BadUrls);
        };
        if host.is_empty() || port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
            return Err(MembershipError::BadUrls);
        }
        if rest.contains('/') {
            return Err(MembershipError::BadUrls);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
