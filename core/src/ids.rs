//! Newtypes for the numbers the core passes around, so a term is never mistaken for an index.

use bincode::{Decode, Encode};
use core::fmt;

macro_rules! newtype {
    ($(#[$meta:meta])* $name:ident($inner:ty), $fmt:literal) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
        pub struct $name(pub $inner);

        impl $name {
            /// The raw number.
            #[must_use]
            pub const fn get(self) -> $inner {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, $fmt, self.0)
            }
        }

        impl From<$inner> for $name {
            fn from(v: $inner) -> Self {
                $name(v)
            }
        }
    };
}

newtype!(
    /// A member's identity in the cluster (etcd's member ID). Zero means "none".
    NodeId(u64),
    "{}"
);
newtype!(
    /// A Raft term.
    Term(u64),
    "{}"
);
newtype!(
    /// A position in the Raft log; the first entry has index 1, zero means "before the log".
    LogIndex(u64),
    "{}"
);
newtype!(
    /// A lease's identity (etcd's lease ID); zero means "no lease".
    LeaseId(i64),
    "{}"
);

impl NodeId {
    /// No node: no leader known, no vote cast.
    pub const NONE: NodeId = NodeId(0);
    /// True unless this is [`NodeId::NONE`].
    #[must_use]
    pub const fn is_some(self) -> bool {
        self.0 != 0
    }
}

impl LogIndex {
    /// The index before the first entry.
    pub const ZERO: LogIndex = LogIndex(0);
    /// The next index.
    #[must_use]
    pub const fn next(self) -> LogIndex {
        LogIndex(self.0 + 1)
    }
    /// The previous index, saturating at zero.
    #[must_use]
    pub const fn prev(self) -> LogIndex {
        LogIndex(self.0.saturating_sub(1))
    }
}

impl Term {
    /// The term before any election.
    pub const ZERO: Term = Term(0);
}

impl LeaseId {
    /// No lease attached.
    pub const NONE: LeaseId = LeaseId(0);
}
