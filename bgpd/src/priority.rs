//! Route priority as Calico's BIRD carries it (docs/ARCHITECTURE.md,
//! "Route priority"): a route's kernel metric travels in BGP as
//! LOCAL_PREF = 2147483647 - metric, and comes back into the kernel as
//! metric = 2147483647 - LOCAL_PREF. A route of normal priority has the
//! configured normal metric (1024 unless BGPConfiguration
//! `ipv4NormalRoutePriority` / `ipv6NormalRoutePriority` say otherwise);
//! one with a lower metric is elevated (a KubeVirt VM's address on the node
//! it migrated to) and wins everywhere, by LOCAL_PREF in BGP and by metric
//! in every kernel.

use ipnet::IpNet;
use proto::config::{RoutePriority, LOCAL_PREF_OF_METRIC_0};

/// The LOCAL_PREF a route with kernel metric `metric` is announced with.
pub fn local_pref_of(metric: u32) -> u32 {
    LOCAL_PREF_OF_METRIC_0.saturating_sub(metric)
}

/// The kernel metric of a BGP route: from its LOCAL_PREF when it has one
/// (iBGP), else the normal one (eBGP, whose LOCAL_PREF is not ours).
pub fn metric_of(local_pref: Option<u32>, prefix: &IpNet, priority: &RoutePriority) -> u32 {
    local_pref.map_or_else(
        || priority.normal_for(prefix),
        |lp| LOCAL_PREF_OF_METRIC_0.saturating_sub(lp),
    )
}

/// The LOCAL_PREF of a route of normal priority: what this node's own
/// routes, and routes without one sent to iBGP peers, carry.
pub fn normal_local_pref(prefix: &IpNet, priority: &RoutePriority) -> u32 {
    local_pref_of(priority.normal_for(prefix))
}

/// The priority of a route learned from the kernel, as a metric. A route
/// without one (IPv4 metric 0: an operator's, or an older Felix's workload
/// route) is of normal priority. Calico's Felix programs workload routes
/// at the normal metric and elevated ones below it, never at 0, so this
/// only keeps every pod of an older Felix from counting as elevated.
pub fn learned_metric(metric: u32, prefix: &IpNet, priority: &RoutePriority) -> u32 {
    if metric == 0 {
        priority.normal_for(prefix)
    } else {
        metric
    }
}

/// Whether a route of the kernel's is elevated: Calico's `krt_metric <
/// <NormalRoutePriority>`, for a metric from [`learned_metric`].
pub fn elevated(metric: u32, prefix: &IpNet, priority: &RoutePriority) -> bool {
    metric < priority.normal_for(prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(text: &str) -> IpNet {
        text.parse().unwrap()
    }

    #[test]
    fn metric_and_local_pref_map_both_ways() {
        let normal = RoutePriority::default();
        let v4 = net("10.244.1.0/26");
        // A node's own route: metric 1024, sent as 2147482623 (Calico's
        // templates), installed by the receiver at 1024 again.
        assert_eq!(normal_local_pref(&v4, &normal), 2_147_482_623);
        assert_eq!(metric_of(Some(2_147_482_623), &v4, &normal), 1024);
        // An elevated route, metric 512.
        assert_eq!(local_pref_of(512), 2_147_483_135);
        assert_eq!(metric_of(Some(2_147_483_135), &v4, &normal), 512);
        // BIRD's default LOCAL_PREF from an older node: the large metric
        // Calico's kernel filter gives it too.
        assert_eq!(metric_of(Some(100), &v4, &normal), 2_147_483_547);
        // No LOCAL_PREF (eBGP): the normal metric of the family.
        let custom = RoutePriority {
            ipv4: 5000,
            ipv6: 1024,
        };
        assert_eq!(metric_of(None, &v4, &custom), 5000);
        assert_eq!(metric_of(None, &net("fd00::/64"), &custom), 1024);
        // A LOCAL_PREF above the scale gives metric 0, never a wrap.
        assert_eq!(metric_of(Some(u32::MAX), &v4, &normal), 0);
        assert_eq!(local_pref_of(u32::MAX), 0);
    }

    #[test]
    fn elevated_means_below_the_normal_metric() {
        let priority = RoutePriority::default();
        let v4 = net("10.244.1.7/32");
        assert!(elevated(512, &v4, &priority));
        assert!(elevated(0, &v4, &priority));
        assert!(!elevated(1024, &v4, &priority));
        assert!(!elevated(2048, &v4, &priority));
        // A kernel route without a metric is of normal priority.
        assert_eq!(learned_metric(0, &v4, &priority), 1024);
        assert!(!elevated(learned_metric(0, &v4, &priority), &v4, &priority));
        assert_eq!(learned_metric(512, &v4, &priority), 512);
    }
}
