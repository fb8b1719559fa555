//! Which page of a database is what, learnt with the read-only inspector,
//! for tests that aim damage at a kind of structure: each page's role, the
//! overflow runs, the keys each leaf holds, and the WAL records recovery
//! would replay.

use std::collections::BTreeMap;
use std::path::Path;

use oakmap::inspect::{CellView, RawDb, RecordStatus};

use super::format::{FILES, PAGE, Structure, le};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Header,
    MetaNewest,
    MetaOlder,
    Branch,
    Leaf,
    Overflow,
    OverflowBody,
    Freelist,
    Free,
    /// At or past the newest checkpoint's page count (later commits' pages).
    Unused,
}

/// A WAL record recovery replays: WAL file (0 or 1), offset, length, txn id.
pub type Record = (usize, usize, usize, u64);

pub struct Layout {
    /// The data file and both WAL files, as read.
    pub files: [Vec<u8>; 3],
    pub roles: BTreeMap<u64, Role>,
    /// Overflow runs: first page, pages.
    pub runs: Vec<(u64, u64)>,
    /// The keys of each leaf of a named tree, in slot order, and the key
    /// whose value each overflow page holds; with the tree's name.
    pub keys: BTreeMap<u64, (String, Vec<Vec<u8>>)>,
    /// In commit order.
    pub records: Vec<Record>,
    /// The newest checkpoint's commit and page count.
    pub meta_txn: u64,
    pub page_count: u64,
}

impl Layout {
    /// The layout of the database whose data file is `dir/db.oak`.
    pub fn read(dir: &Path) -> Layout {
        let files = FILES.map(|f| std::fs::read(dir.join(f)).unwrap());
        let raw = RawDb::open(dir.join(FILES[0])).unwrap();
        let meta = raw.newest_meta().expect("a valid meta slot");
        let newest = raw.metas().iter().find(|m| m.newest).unwrap().slot as u64;
        let mut roles = BTreeMap::from([(0, Role::Header), (2 - newest, Role::MetaOlder)]);
        roles.insert(1 + newest, Role::MetaNewest);
        let mut trees = vec![(String::new(), meta.catalog)];
        trees.extend(raw.trees().unwrap());
        let (mut runs, mut keys) = (Vec::new(), BTreeMap::new());
        for (tree, desc) in trees {
            for page in raw.tree_pages(&desc) {
                assert!(page.problem.is_none(), "{:?}", page.problem);
                roles.insert(page.id, if page.leaf { Role::Leaf } else { Role::Branch });
                let cells = raw.page(page.id).unwrap().cells;
                for cell in cells.into_iter().filter(|_| page.leaf && !tree.is_empty()) {
                    let (CellView::Inline { key, .. } | CellView::Overflow { key, .. }) = &cell
                    else {
                        unreachable!("a leaf holds no branch cells")
                    };
                    let leaf = keys.entry(page.id).or_insert((tree.clone(), Vec::new()));
                    leaf.1.push(key.clone());
                    let CellView::Overflow {
                        page: first, len, ..
                    } = cell
                    else {
                        continue;
                    };
                    let pages = (32 + len as u64).div_ceil(PAGE as u64);
                    runs.push((first, pages));
                    for p in first..first + pages {
                        roles.insert(p, Role::OverflowBody);
                        keys.insert(p, (tree.clone(), vec![key.clone()]));
                    }
                    roles.insert(first, Role::Overflow);
                }
            }
        }
        let freelist = raw.freelist();
        assert!(freelist.problem.is_none(), "{:?}", freelist.problem);
        let free = freelist.ids.iter().map(|&p| (p, Role::Free));
        roles.extend(
            freelist
                .pages
                .iter()
                .map(|&p| (p, Role::Freelist))
                .chain(free),
        );
        for p in 3..(files[0].len() / PAGE) as u64 {
            assert!(
                p >= meta.page_count || roles.contains_key(&p),
                "page {p} lost"
            );
            roles.entry(p).or_insert(Role::Unused);
        }
        let replay = raw.wal().records.into_iter();
        let replay = replay.filter(|r| r.status == RecordStatus::Replay && !r.marker);
        let mut records: Vec<Record> = replay
            .map(|r| (r.file, r.offset as usize, r.len, r.txn))
            .collect();
        records.sort_by_key(|r| r.3);
        let (meta_txn, page_count) = (meta.txn_id, meta.page_count);
        Layout {
            files,
            roles,
            runs,
            keys,
            records,
            meta_txn,
            page_count,
        }
    }

    pub fn pages(&self, role: Role) -> Vec<u64> {
        let pages = self.roles.iter().filter(|e| *e.1 == role);
        pages.map(|e| *e.0).collect()
    }

    /// The structure at a data page.
    pub fn structure(&self, page: u64) -> Structure {
        let run = self.runs.iter().find(|r| r.0 <= page && page < r.0 + r.1);
        let &(first, pages) = run.unwrap_or(&(page, 1));
        match self.roles[&page] {
            Role::Header => Structure::FileHeader,
            Role::MetaNewest | Role::MetaOlder => Structure::Meta(page),
            Role::Branch => Structure::Node(page, false),
            Role::Leaf => Structure::Node(page, true),
            Role::Overflow => Structure::Overflow(page, pages),
            Role::OverflowBody => Structure::OverflowBody(page, first, pages),
            Role::Freelist => Structure::Freelist(page),
            Role::Free | Role::Unused => Structure::Unused(page),
        }
    }

    /// The WAL file holding the last record recovery replays.
    pub fn tail(&self) -> Option<usize> {
        self.records.last().map(|r| r.0)
    }

    /// Every structure's stored checksum equals the one `format` computes
    /// (else a test that forges fields would be refused for the wrong
    /// reason).
    pub fn assert_checksums(&self) {
        let records = self
            .records
            .iter()
            .map(|r| Structure::Record(r.0, r.1, r.2));
        let mut all: Vec<Structure> = records.chain([Structure::FileHeader]).collect();
        all.extend(
            (0..2)
                .map(Structure::WalHeader)
                .chain([1, 2].map(Structure::Meta)),
        );
        let pages = self.roles.keys().map(|&page| self.structure(page));
        all.extend(pages.filter(|s| !matches!(s, Structure::Unused(_))));
        let files = self.files.clone().map(Some);
        for s in all {
            let (f, at, value) = s.crc(&files).expect("inside the file");
            assert_eq!(le(&self.files[f], at, 4), value as u64, "{s:?}");
        }
    }
}
