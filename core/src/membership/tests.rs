use super::*;
use crate::backend::MemBackend;
use alloc::string::ToString;
use alloc::vec;

fn member(id: u64, url: &str, learner: bool) -> Member {
    Member {
        id: NodeId(id),
        name: alloc::format!("m{id}"),
        peer_urls: vec![url.to_string()],
        client_urls: vec![],
        is_learner: learner,
    }
}

fn applied(changes: &[MemberChange]) -> (Membership, Overlay) {
    let mut m = Membership::new();
    let mut overlay = Overlay::new();
    for c in changes {
        m.apply(c, &mut overlay).unwrap();
    }
    (m, overlay)
}

#[test]
fn add_remove_promote_follow_etcds_rules() {
    let (mut m, mut overlay) = applied(&[
        MemberChange::Add(member(1, "http://10.0.0.1:2380", false)),
        MemberChange::Add(member(2, "http://10.0.0.2:2380", false)),
    ]);
    assert_eq!(
        m.apply(&MemberChange::Add(member(1, "http://10.0.0.9:2380", false)), &mut overlay),
        Err(MembershipError::IdExists)
    );
    assert_eq!(
        m.apply(&MemberChange::Add(member(3, "http://10.0.0.2:2380", false)), &mut overlay),
        Err(MembershipError::PeerUrlExists)
    );
    assert_eq!(
        m.apply(&MemberChange::Promote(NodeId(2)), &mut overlay),
        Err(MembershipError::NotLearner)
    );
    m.apply(&MemberChange::Add(member(3, "http://10.0.0.3:2380", true)), &mut overlay).unwrap();
    assert_eq!(
        m.apply(&MemberChange::Add(member(4, "http://10.0.0.4:2380", true)), &mut overlay),
        Err(MembershipError::TooManyLearners)
    );
    m.apply(&MemberChange::Promote(NodeId(3)), &mut overlay).unwrap();
    assert!(!m.get(NodeId(3)).unwrap().is_learner);
    m.apply(&MemberChange::Remove(NodeId(3)), &mut overlay).unwrap();
    assert_eq!(
        m.apply(&MemberChange::Remove(NodeId(3)), &mut overlay),
        Err(MembershipError::IdRemoved)
    );
    assert_eq!(
        m.apply(&MemberChange::Add(member(3, "http://10.0.0.3:2380", false)), &mut overlay),
        Err(MembershipError::IdRemoved),
        "a removed id never comes back"
    );
    assert_eq!(
        m.apply(&MemberChange::Remove(NodeId(9)), &mut overlay),
        Err(MembershipError::IdNotFound)
    );
}

#[test]
fn refused_changes_change_nothing() {
    let (mut m, mut overlay) = applied(&[MemberChange::Add(member(1, "http://a:1", false))]);
    let before = m.clone();
    let _ = overlay.take_batch(1);
    assert!(m.apply(&MemberChange::Add(member(1, "http://b:1", false)), &mut overlay).is_err());
    assert!(m
        .apply(&MemberChange::UpdatePeerUrls { id: NodeId(1), peer_urls: vec![] }, &mut overlay)
        .is_err());
    assert_eq!(m, before);
    assert!(!overlay.has_untaken());
}

#[test]
fn update_may_keep_its_own_urls_but_not_take_others() {
    let (mut m, mut overlay) = applied(&[
        MemberChange::Add(member(1, "http://a:1", false)),
        MemberChange::Add(member(2, "http://b:1", false)),
    ]);
    let keep = MemberChange::UpdatePeerUrls {
        id: NodeId(1),
        peer_urls: vec!["http://a:1".into(), "http://a2:1".into()],
    };
    m.apply(&keep, &mut overlay).unwrap();
    let steal =
        MemberChange::UpdatePeerUrls { id: NodeId(1), peer_urls: vec!["http://b:1".into()] };
    assert_eq!(m.apply(&steal, &mut overlay), Err(MembershipError::PeerUrlExists));
}

#[test]
fn malformed_urls_are_refused() {
    let m = Membership::new();
    for bad in
        ["", "10.0.0.1:2380", "ftp://a:1", "http://a", "http://:1", "http://a:1/path", "http://a:x"]
    {
        let change = MemberChange::Add(member(1, bad, false));
        assert_eq!(m.validate(&change), Err(MembershipError::BadUrls), "{bad}");
    }
    assert_eq!(m.validate(&MemberChange::Add(member(1, "https://[::1]:2380", false))), Ok(()));
}

#[test]
fn survives_a_round_trip_through_storage() {
    let (mut m, mut overlay) = applied(&[
        MemberChange::Add(member(1, "http://a:1", false)),
        MemberChange::Add(member(2, "http://b:1", true)),
        MemberChange::Add(member(3, "http://c:1", false)),
    ]);
    m.apply(&MemberChange::Remove(NodeId(3)), &mut overlay).unwrap();
    m.publish_attributes(NodeId(1), "one", &["http://a:2379".to_string()], &mut overlay);
    let backend = MemBackend::new();
    backend.apply(&overlay.take_batch(1));
    let loaded = Membership::load(&backend).unwrap();
    assert_eq!(loaded, m);
    assert!(loaded.is_removed(NodeId(3)));
    assert_eq!(loaded.get(NodeId(1)).unwrap().client_urls, vec!["http://a:2379".to_string()]);
}
