//! `INFO` and `CONFIG GET`: what a client or an operator asks
//! of the server itself.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use crate::Shared;
use crate::command::DATABASES;
use crate::glob;
use crate::keyspace::tree_name;
use crate::resp::Reply;

/// `CONFIG GET pattern...`: the settings clients look for at start
/// (`redis-benchmark` asks for `save` and `appendonly`), matched by glob.
pub(crate) fn config_get(shared: &Shared, patterns: &[Vec<u8>]) -> Reply {
    let settings: [(&str, String); 8] = [
        ("save", String::new()),
        ("appendonly", "yes".into()),
        ("appendfsync", shared.config.durability_name.clone()),
        ("databases", DATABASES.to_string()),
        ("maxclients", shared.config.max_clients.to_string()),
        (
            "proto-max-bulk-len",
            shared.config.limits.bulk_bytes_max.to_string(),
        ),
        (
            "client-query-buffer-limit",
            shared.config.query_buffer_bytes_max.to_string(),
        ),
        ("bind", shared.local_addr.ip().to_string()),
    ];
    let mut out = Vec::new();
    for (name, value) in &settings {
        // Redis looks a name without wildcards up directly and answers it
        // as it was asked (`CONFIG GET MAXCLIENTS` gives `MAXCLIENTS`).
        let asked = patterns
            .iter()
            .find(|p| glob::matches(&p.to_ascii_lowercase(), name.as_bytes()));
        if let Some(asked) = asked {
            let literal = !asked.iter().any(|c| matches!(c, b'*' | b'?' | b'['));
            let shown = if literal { asked } else { name.as_bytes() };
            out.push(Reply::Bulk(shown.to_vec()));
            out.push(Reply::Bulk(value.as_bytes().to_vec()));
        }
    }
    Reply::Array(out)
}

/// Resident memory of this process, from `/proc/self/status` (0 where
/// there is none).
fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kib| kib * 1024)
}

/// The `INFO` text: the sections Redis has that mean something here, in
/// Redis's `field:value` form and order. `sections` picks some, separated
/// by spaces (`all`, `default`, `everything` or none: every section).
pub(crate) fn text(shared: &Shared, sections: Option<&str>) -> String {
    let want = |name: &str| {
        sections.is_none_or(|list| {
            list.split(' ')
                .any(|s| matches!(s, "all" | "default" | "everything") || s == name)
        })
    };
    let mut s = String::new();
    let stats = shared.db.stats().ok();
    if want("server") {
        let _ = write!(
            s,
            "# Server\r\nredis_version:7.0.0\r\noakmap_version:{}\r\nredis_mode:standalone\r\n\
             process_id:{}\r\ntcp_port:{}\r\nuptime_in_seconds:{}\r\ndatabase_file:{}\r\n\r\n",
            env!("CARGO_PKG_VERSION"),
            std::process::id(),
            shared.local_addr.port(),
            shared.started.elapsed().as_secs(),
            shared.db.path().display(),
        );
    }
    if want("clients") {
        let _ = write!(
            s,
            "# Clients\r\nconnected_clients:{}\r\nmaxclients:{}\r\n\r\n",
            shared.stats.connected.load(Ordering::Relaxed),
            shared.config.max_clients,
        );
    }
    if want("memory") {
        let _ = write!(
            s,
            "# Memory\r\nused_memory_rss:{}\r\noakmap_cache_bytes:{}\r\n\r\n",
            rss_bytes(),
            stats.as_ref().map_or(0, |st| st.cache_bytes),
        );
    }
    if want("persistence")
        && let Some(st) = &stats
    {
        let _ = write!(
            s,
            "# Persistence\r\nloading:0\r\naof_enabled:1\r\ndurability:{}\r\n\
                 checkpoints:{}\r\nlast_checkpoint_ms:{}\r\nwal_bytes:{}\r\nwal_bytes_written:{}\r\n\
                 file_bytes:{}\r\npages_in_use:{}\r\nfree_pages:{}\r\n\r\n",
            shared.config.durability_name,
            st.checkpoints,
            st.checkpoint_last.as_millis(),
            st.wal_bytes,
            st.wal_bytes_written,
            st.file_bytes,
            st.pages_in_use,
            st.free_pages,
        );
    }
    if want("stats") {
        let commits = shared.writer_stats.batches.load(Ordering::Relaxed);
        let writes = shared.writer_stats.writes.load(Ordering::Relaxed);
        let fsyncs = stats.as_ref().map_or(0, |st| st.wal_fsyncs);
        let _ = write!(
            s,
            "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\n\
             writes_committed:{}\r\ncommits:{}\r\nwal_fsyncs:{}\r\nwrites_per_commit:{:.2}\r\n\
             commits_per_fsync:{:.2}\r\n\r\n",
            shared.stats.connections.load(Ordering::Relaxed),
            shared.stats.commands.load(Ordering::Relaxed),
            writes,
            commits,
            fsyncs,
            writes as f64 / commits.max(1) as f64,
            stats.as_ref().map_or(0, |st| st.commits) as f64 / fsyncs.max(1) as f64,
        );
    }
    if want("keyspace") {
        s.push_str("# Keyspace\r\n");
        let rx = shared.db.begin_read();
        for db in 0..DATABASES {
            if let Ok(Some(t)) = rx.tree(tree_name(db))
                && !t.is_empty()
            {
                let _ = write!(s, "db{db}:keys={},expires=0,avg_ttl=0\r\n", t.len());
            }
        }
        s.push_str("\r\n");
    }
    s
}
