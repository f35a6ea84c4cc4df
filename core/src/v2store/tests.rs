use super::*;
use crate::backend::MemBackend;
use alloc::string::ToString;
use alloc::vec;

struct Store {
    backend: MemBackend,
    overlay: Overlay,
    next: u64,
}

impl Store {
    fn new() -> Self {
        Store { backend: MemBackend::new(), overlay: Overlay::new(), next: 10 }
    }

    fn write(
        &mut self,
        method: &str,
        path: &str,
        val: &str,
        dir: bool,
        recursive: bool,
    ) -> V2Response {
        self.next += 1;
        let r = pb::V2Request {
            method: method.to_string(),
            path: path.to_string(),
            val: val.to_string(),
            dir,
            recursive,
            ..Default::default()
        };
        apply(&self.backend, &mut self.overlay, self.next, &r)
    }

    fn put(&mut self, path: &str, val: &str) -> V2Response {
        self.write("PUT", path, val, false, false)
    }

    fn get(&self, path: &str, recursive: bool) -> V2Response {
        get(&self.backend, &self.overlay, path, recursive, self.next)
    }

    /// Makes pending writes durable, as the runtime does after a persist.
    fn persist(&mut self) {
        let batch = self.overlay.take_batch(self.next);
        self.backend.apply(&batch);
        self.overlay.persisted(self.next);
    }
}

fn file(key: &str, value: &str, created: u64, modified: u64) -> V2Node {
    V2Node {
        key: Some(key.to_string()),
        dir: false,
        value: Some(value.to_string()),
        created_index: created,
        modified_index: modified,
        nodes: Vec::new(),
    }
}

fn dir(key: &str, created: u64, nodes: Vec<V2Node>) -> V2Node {
    V2Node {
        key: Some(key.to_string()),
        dir: true,
        value: None,
        created_index: created,
        modified_index: created,
        nodes,
    }
}

fn err(r: &V2Response) -> (V2ErrorCode, &str, u64) {
    let e = r.result.as_ref().unwrap_err();
    (e.code, e.cause.as_str(), e.index)
}

#[test]
fn paths_are_cleaned() {
    assert_eq!(clean_path(""), "/");
    assert_eq!(clean_path("/"), "/");
    assert_eq!(clean_path("//a//b/"), "/a/b");
    assert_eq!(clean_path("a/./b/../c"), "/a/c");
    assert_eq!(clean_path("/../.."), "/");
}

#[test]
fn set_get_update_and_delete_a_file() {
    let mut s = Store::new();
    let missing = s.get("/foo", false);
    assert_eq!(err(&missing), (V2ErrorCode::KeyNotFound, "/foo", 0));
    assert_eq!(missing.index, 0);

    let set = s.put("/foo", "bar");
    let event = set.result.clone().unwrap();
    assert_eq!((event.action, event.created()), (V2Action::Set, true));
    assert_eq!(event.node, file("/foo", "bar", 11, 11));
    assert_eq!((set.index, set.raft_index), (11, 11));

    let update = s.put("foo", "baz").result.unwrap();
    assert!(!update.created());
    assert_eq!(update.prev_node, Some(file("/foo", "bar", 11, 11)));
    assert_eq!(update.node, file("/foo", "baz", 12, 12));

    s.persist();
    let got = s.get("/foo", false);
    assert_eq!(got.index, 12);
    assert_eq!(got.result.unwrap().node, file("/foo", "baz", 12, 12));

    let deleted = s.write("DELETE", "/foo", "", false, false);
    let event = deleted.result.unwrap();
    assert_eq!(event.action, V2Action::Delete);
    assert_eq!(event.prev_node, Some(file("/foo", "baz", 12, 12)));
    let mut gone = file("/foo", "", 12, 13);
    gone.value = None;
    assert_eq!(event.node, gone);
    assert_eq!(err(&s.get("/foo", false)), (V2ErrorCode::KeyNotFound, "/foo", 13));
    assert_eq!(
        err(&s.write("DELETE", "/foo", "", false, false)),
        (V2ErrorCode::KeyNotFound, "/foo", 13)
    );
}

#[test]
fn directories_list_children_and_recursive_lists_the_tree() {
    let mut s = Store::new();
    assert!(s.write("PUT", "/dir", "", true, false).result.unwrap().created());
    s.put("/dir/a", "1");
    s.put("/dir/sub/b", "2");
    s.put("/dir/_hidden", "h");
    s.put("/dir-x", "3");
    let listed = s.get("/dir", false).result.unwrap().node;
    assert_eq!(
        listed,
        dir("/dir", 11, vec![file("/dir/a", "1", 12, 12), dir("/dir/sub", 13, vec![])])
    );
    let tree = s.get("/dir", true).result.unwrap().node;
    assert_eq!(
        tree,
        dir(
            "/dir",
            11,
            vec![
                file("/dir/a", "1", 12, 12),
                dir("/dir/sub", 13, vec![file("/dir/sub/b", "2", 13, 13)])
            ]
        )
    );
    // Hidden nodes are readable by name.
    assert_eq!(
        s.get("/dir/_hidden", false).result.unwrap().node,
        file("/dir/_hidden", "h", 14, 14)
    );

    let root = s.get("/", false).result.unwrap().node;
    assert_eq!(root.key, None);
    assert!(root.dir);
    assert_eq!(root.nodes, vec![dir("/dir", 11, vec![]), file("/dir-x", "3", 15, 15)]);
}

#[test]
fn files_and_directories_do_not_mix() {
    let mut s = Store::new();
    s.write("PUT", "/dir", "", true, false);
    s.put("/dir/a", "1");
    s.put("/foo", "bar");
    assert_eq!(err(&s.put("/dir", "x")), (V2ErrorCode::NotFile, "/dir", 13));
    assert_eq!(err(&s.write("PUT", "/dir", "", true, false)), (V2ErrorCode::NotFile, "/dir", 13));
    assert_eq!(err(&s.get("/foo/x", false)), (V2ErrorCode::NotDir, "/foo", 13));
    assert_eq!(err(&s.put("/foo/x/y", "1")), (V2ErrorCode::NotDir, "/foo", 13));
    assert_eq!(err(&s.get("/nodir/x", false)), (V2ErrorCode::KeyNotFound, "/nodir/x", 13));
    assert_eq!(err(&s.put("/", "1")), (V2ErrorCode::RootReadOnly, "/", 13));
    assert_eq!(err(&s.write("DELETE", "/", "", true, true)), (V2ErrorCode::RootReadOnly, "/", 13));
    assert_eq!(
        err(&s.write("DELETE", "/dir", "", false, false)),
        (V2ErrorCode::NotFile, "/dir", 13)
    );
    assert_eq!(
        err(&s.write("DELETE", "/dir", "", true, false)),
        (V2ErrorCode::DirNotEmpty, "/dir", 13)
    );
    assert_eq!(err(&s.write("PATCH", "/dir", "", true, false)).0, V2ErrorCode::InvalidField);
    // A file may become a directory.
    let replaced = s.write("PUT", "/foo", "", true, false).result.unwrap();
    assert_eq!(replaced.prev_node, Some(file("/foo", "bar", 13, 13)));
    assert!(replaced.node.dir);
}

#[test]
fn recursive_delete_removes_the_subtree() {
    let mut s = Store::new();
    s.put("/dir/a", "1");
    s.put("/dir/sub/b", "2");
    s.put("/dirx", "keep");
    s.persist();
    let event = s.write("DELETE", "/dir", "", false, true).result.unwrap();
    assert_eq!(event.prev_node, Some(dir("/dir", 11, vec![])));
    assert_eq!(
        (event.node.dir, event.node.created_index, event.node.modified_index),
        (true, 11, 14)
    );
    s.persist();
    for p in ["/dir", "/dir/a", "/dir/sub", "/dir/sub/b"] {
        assert_eq!(err(&s.get(p, false)).0, V2ErrorCode::KeyNotFound, "{p}");
    }
    assert_eq!(s.get("/", true).result.unwrap().node.nodes, vec![file("/dirx", "keep", 13, 13)]);
    // An empty directory goes with dir=true alone.
    s.write("PUT", "/empty", "", true, false);
    assert!(s.write("DELETE", "/empty", "", true, false).result.is_ok());
}

#[test]
fn post_creates_in_order_keys() {
    let mut s = Store::new();
    let event = s.write("POST", "/queue", "job", false, false).result.unwrap();
    assert_eq!(event.action, V2Action::Create);
    assert!(event.created());
    assert_eq!(event.node, file("/queue/00000000000000000011", "job", 11, 11));
    s.write("POST", "/queue", "job2", false, false);
    let listed = s.get("/queue", false).result.unwrap().node;
    assert_eq!(listed.nodes.len(), 2);
    s.put("/f", "1");
    assert_eq!(err(&s.write("POST", "/f", "x", false, false)), (V2ErrorCode::NotDir, "/f", 13));
}

#[test]
fn records_are_sound_and_errors_do_not_move_the_index() {
    let mut s = Store::new();
    s.put("/a", "1");
    let failed = s.put("/a/b", "2");
    assert_eq!((failed.index, failed.raft_index), (11, 12));
    s.persist();
    let mut checked = 0;
    s.backend.scan(Table::Meta, b"v2/", Some(b"v20"), &mut |k, v| {
        assert!(meta_record_is_sound(k, v));
        checked += 1;
        ControlFlow::Continue(())
    });
    assert_eq!(checked, 2);
    assert!(!meta_record_is_sound(b"v2/n/a", &[0xff; 2]));
    assert!(!meta_record_is_sound(b"v2/index", &[]));
}
