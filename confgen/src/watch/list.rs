//! A consistent listing of key ranges of any size: etcd's `limit` with
//! continuation, every page of every range read at the revision of the very
//! first page. etcd keeps that revision readable until a compaction passes
//! it, so the result is the datastore exactly as it was at one revision,
//! however long the listing takes and whatever is written meanwhile; the
//! watch then starts at that revision + 1 (changes.rs) and misses nothing.

use etcd_client::{GetOptions, KeyValue, KvClient};
use tracing::{info, warn};

use super::connect::Clients;
use crate::snapshot::{BadValue, Snapshot};

/// Keys per page: a page of Calico Nodes (about 1.5 KB each) is well under
/// a megabyte, and 5,000 Nodes are ten round trips.
pub const PAGE_SIZE: i64 = 500;

/// Why a listing stopped.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ListError {
    /// The revision being listed was compacted away: list again, afresh.
    #[error("etcd compacted the revision being listed")]
    Compacted,
    #[error("{0}")]
    Failed(String),
}

impl ListError {
    pub(crate) fn of(error: etcd_client::Error) -> Self {
        match &error {
            // etcd's ErrCompacted: "mvcc: required revision has been compacted".
            etcd_client::Error::GRpcStatus(status) if status.message().contains("compacted") => {
                Self::Compacted
            }
            _ => Self::Failed(error.to_string()),
        }
    }
}

/// Reads `ranges` (key prefixes) page by page at one revision.
pub struct Pager {
    kv: KvClient,
    ranges: Vec<String>,
    /// The range being read, an index into `ranges`.
    range: usize,
    /// Where the next page of that range starts; empty for its beginning.
    from: Vec<u8>,
    /// The revision of the first page; 0 before it.
    revision: i64,
    page_size: i64,
}

impl std::fmt::Debug for Pager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pager")
            .field("range", &self.ranges.get(self.range))
            .field("revision", &self.revision)
            .finish_non_exhaustive()
    }
}

impl Pager {
    pub fn new(clients: &Clients, ranges: Vec<String>, page_size: i64) -> Self {
        Self {
            kv: clients.kv.clone(),
            ranges,
            range: 0,
            from: Vec::new(),
            revision: 0,
            page_size: page_size.max(1),
        }
    }

    /// The revision every page is read at (0 before the first page).
    pub fn revision(&self) -> i64 {
        self.revision
    }

    /// The next page of keys and values; `None` once every range is read.
    pub async fn next_page(&mut self) -> Result<Option<Vec<KeyValue>>, ListError> {
        while let Some(prefix) = self.ranges.get(self.range) {
            let start = if self.from.is_empty() {
                prefix.as_bytes().to_vec()
            } else {
                std::mem::take(&mut self.from)
            };
            let mut options = GetOptions::new()
                .with_range(prefix_end(prefix.as_bytes()))
                .with_limit(self.page_size);
            if self.revision > 0 {
                options = options.with_revision(self.revision);
            }
            let mut response = self
                .kv
                .get(start, Some(options))
                .await
                .map_err(ListError::of)?;
            if self.revision == 0 {
                self.revision = response.header().map_or(0, |h| h.revision());
            }
            let more = response.more();
            let page = response.take_kvs();
            match page.last() {
                // The next page starts just after this one's last key.
                Some(last) if more => {
                    self.from = last.key().to_vec();
                    self.from.push(0);
                }
                _ => self.range += 1,
            }
            if !page.is_empty() {
                return Ok(Some(page));
            }
        }
        Ok(None)
    }
}

/// The first key after every key that starts with `prefix` (etcd's
/// range_end for a prefix): the prefix with its last byte below 0xff
/// incremented and what follows it dropped; "\0" (every key) if none is.
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// A datastore read at one revision.
#[derive(Clone, Debug, Default)]
pub struct Listing {
    pub snapshot: Snapshot,
    pub revision: i64,
    /// Values that did not parse, each with its key (skipped).
    pub bad: Vec<BadValue>,
}

/// Lists `ranges` into a snapshot, consistently; a compaction while it
/// lists starts it over, at a fresh revision.
pub async fn list(clients: &Clients, ranges: &[String], page_size: i64) -> Result<Listing, String> {
    loop {
        let mut pager = Pager::new(clients, ranges.to_vec(), page_size);
        let mut listing = Listing::default();
        let outcome = loop {
            match pager.next_page().await {
                Ok(Some(page)) => {
                    for kv in &page {
                        let key = String::from_utf8_lossy(kv.key());
                        if let Err(bad) = listing.snapshot.put(&key, kv.value()) {
                            warn!(%bad, "skipped");
                            listing.bad.push(bad);
                        }
                    }
                }
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        match outcome {
            Ok(()) => {
                listing.revision = pager.revision();
                return Ok(listing);
            }
            Err(ListError::Compacted) => {
                info!(
                    revision = pager.revision(),
                    "etcd compacted the revision being listed; listing again"
                );
            }
            Err(ListError::Failed(e)) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_ends_after_its_last_key() {
        assert_eq!(prefix_end(b"/calico/a/"), b"/calico/a0".to_vec());
        assert_eq!(prefix_end(b"a\xff"), b"b".to_vec());
        assert_eq!(prefix_end(b"\xff\xff"), vec![0]);
        assert_eq!(prefix_end(b""), vec![0]);
    }
}
