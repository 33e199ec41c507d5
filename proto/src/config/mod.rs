//! `SpeakerConfig`: everything one speaker needs to run, as data. Defaults are
//! Calico's (docs/CALICO-CONTRACT.md §2.2): hold 240 s, keepalive a third of
//! it, connect retry 5 s, connect delay 2 s, error wait 5 to 30 s, graceful
//! restart 120 s.
//!
//! ```toml
//! node_name = "node-1"
//! router_id = "10.0.1.11"
//! local_as = 64512
//! addresses = ["10.0.1.11/24"]
//!
//! [[peer]]
//! address = "10.0.1.12"
//! remote_as = 64512
//! kind = "mesh"
//!
//! [[originate]]
//! prefix = "10.244.1.0/26"
//! kind = "block"
//!
//! [export]
//! prefixes = ["10.244.0.0/16"]
//! ```

mod asn;
mod community;
mod filter;
mod secret;
mod validate;

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use ipnet::IpNet;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use self::asn::{Asn, AsnError};
pub use self::community::CommunityValue;
pub use self::filter::{
    FilterAction, FilterConfig, FilterOperation, FilterRule, FilterSource, MatchOperator, PeerType,
    PrefixLength,
};
pub use self::secret::Secret;

/// The JSON Schema of the configuration file: every field with its doc
/// comment and default (docs/CONFIGURATION.md is generated from it).
pub fn schema() -> schemars::Schema {
    schemars::schema_for!(SpeakerConfig)
}
pub use self::validate::ConfigError;

pub const DEFAULT_PORT: u16 = 179;
pub const DEFAULT_HOLD_TIME: u16 = 240;
pub const DEFAULT_CONNECT_RETRY: u16 = 5;
pub const DEFAULT_CONNECT_DELAY: u16 = 2;
pub const DEFAULT_ERROR_WAIT_MIN: u16 = 5;
pub const DEFAULT_ERROR_WAIT_MAX: u16 = 30;
pub const DEFAULT_RESTART_TIME: u16 = 120;
/// Seconds a restarting speaker waits for its peers' tables (BIRD's
/// `graceful restart wait`); also how long routes of a previous run stay in
/// the kernel when convergence does not come.
pub const DEFAULT_RESTART_WAIT: u16 = 120;
/// `proto bird`: the kernel protocol Calico's routes carry.
pub const DEFAULT_KERNEL_PROTOCOL: u8 = 12;
pub const DEFAULT_KERNEL_TABLE: u32 = 254;
pub const DEFAULT_TUNNEL_DEVICE: &str = "tunl0";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SpeakerConfig {
    /// This node's name (Calico's NODENAME); shown in status.
    pub node_name: String,
    /// The BGP identifier (RFC 4271 §4.2); Calico uses the node's IPv4 address.
    pub router_id: Ipv4Addr,
    /// This speaker's AS.
    pub local_as: Asn,
    /// Where BGP connections are accepted.
    #[serde(default)]
    pub listen: ListenConfig,
    /// The node's addresses with prefix length (`10.0.1.5/24`): the source of
    /// next hops it announces, and of "this node's subnet" for the kernel.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub addresses: Vec<IpNet>,
    /// When set, this speaker is a route reflector with this cluster id.
    #[serde(default)]
    pub cluster_id: Option<Ipv4Addr>,
    /// The BGP peers, one `[[peer]]` table each.
    #[serde(default, rename = "peer")]
    pub peers: Vec<PeerConfig>,
    /// What this node announces, one `[[originate]]` table each.
    #[serde(default)]
    pub originate: Vec<Originate>,
    /// Which prefixes may be sent to peers at all.
    #[serde(default)]
    pub export: ExportConfig,
    /// How learned routes are installed into the kernel.
    #[serde(default)]
    pub kernel: KernelConfig,
    /// Route filters peers name in `filters` (Calico's BGPFilter).
    #[serde(default, rename = "filter")]
    pub filters: Vec<FilterConfig>,
    /// How much bgpd logs (Calico's BGPConfiguration `logSeverityScreen`),
    /// applied live; bgpd's `--log` / `BGPD_LOG`, when given, wins.
    #[serde(default)]
    pub log_level: Option<LogLevel>,
    /// After a restart with its routes kept in the kernel: the longest this
    /// speaker defers its table waiting for every peer's (RFC 4724 §4.1's
    /// selection deferral timer), in seconds.
    #[serde(default = "default_restart_wait")]
    pub restart_wait: u16,
}

fn default_restart_wait() -> u16 {
    DEFAULT_RESTART_WAIT
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListenConfig {
    /// Listen on these addresses only, at most one per family (Calico's
    /// `bindMode: NodeIP`: the node's IPv4 and IPv6 addresses); on every
    /// address when empty.
    #[serde(default)]
    pub addresses: Vec<IpAddr>,
    /// The TCP port (179, BGP's).
    #[serde(default = "default_port")]
    pub port: u16,
}

impl Default for ListenConfig {
    fn default() -> Self {
        Self {
            addresses: Vec::new(),
            port: DEFAULT_PORT,
        }
    }
}

/// Where a peer comes from, which gives its name (docs/CALICO-CONTRACT.md §2.3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PeerKind {
    /// Node-to-node mesh: `Mesh_10_0_0_2`.
    Mesh,
    /// A global BGPPeer: `Global_10_0_0_1` (`_port_P` when not 179).
    #[default]
    Global,
    /// A node-specific BGPPeer: `Node_10_0_0_3`.
    Node,
}

/// Which next hop to send (Calico's `nextHopMode`, `keepOriginalNextHop`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum NextHopMode {
    /// BGP's rule: self to eBGP peers, unchanged to iBGP peers.
    #[default]
    Auto,
    /// Always this node's address.
    #[serde(rename = "self")]
    SelfAddress,
    /// Always the next hop as received.
    Keep,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PeerConfig {
    /// The protocol name operators see; derived from kind and address when unset.
    #[serde(default)]
    pub name: Option<String>,
    /// The peer's address.
    pub address: IpAddr,
    /// The peer's TCP port (Calico's `peerIP` with `:port`).
    #[serde(default = "default_port")]
    pub port: u16,
    /// The peer's AS: the same as `local_as` for iBGP.
    pub remote_as: Asn,
    /// `mesh`, `global` or `node`: where the peering comes from in Calico,
    /// which names it (`Mesh_…`, `Global_…`, `Node_…`).
    #[serde(default)]
    pub kind: PeerKind,
    /// Never connect; wait for the peer (Calico's mesh direction rule).
    #[serde(default)]
    pub passive: bool,
    /// The peer is a client of this route reflector.
    #[serde(default)]
    pub route_reflector_client: bool,
    /// The hold time offered in the OPEN, in seconds (0, or at least 3).
    #[serde(default = "default_hold_time")]
    pub hold_time: u16,
    /// Defaults to a third of the hold time.
    #[serde(default)]
    pub keepalive_time: Option<u16>,
    /// Seconds between connection attempts (RFC 4271's ConnectRetryTimer).
    #[serde(default = "default_connect_retry")]
    pub connect_retry_time: u16,
    /// Seconds before the first connection attempt (BIRD's `connect delay
    /// time`). 0 connects at once: for a peer known to wait for this side,
    /// where no collision can happen. From etcd, the mesh peers Calico's
    /// direction rule has this node dial get 0. After a session ends, the
    /// next attempt waits a second at least.
    #[serde(default = "default_connect_delay")]
    pub connect_delay_time: u16,
    /// Seconds in Idle after an error, `[first, most]`: the wait doubles on
    /// each error in a row up to the second (BIRD's `error wait time 5,30`).
    #[serde(default = "default_error_wait")]
    pub error_wait_time: (u16, u16),
    /// The restart time sent in the Graceful Restart capability (RFC 4724
    /// §3), in seconds: how long the peer keeps this node's routes while it
    /// restarts.
    #[serde(default = "default_restart_time")]
    pub restart_time: u16,
    /// The TCP MD5 signature password (RFC 2385).
    #[serde(default)]
    pub password: Option<Secret>,
    /// RFC 5082: accept the peer only this many hops away (1 = directly connected).
    #[serde(default)]
    pub ttl_security: Option<u8>,
    /// eBGP multihop TTL; iBGP sessions are multihop already.
    #[serde(default)]
    pub multihop: Option<u8>,
    /// `auto`, `self` or `keep`.
    #[serde(default)]
    pub next_hop: NextHopMode,
    /// The local address of the TCP connection; the node's address when unset.
    #[serde(default)]
    pub source_address: Option<IpAddr>,
    /// Present this AS to the peer instead of the speaker's.
    #[serde(default)]
    pub local_as: Option<Asn>,
    /// Accept paths from this peer whose AS_PATH holds this speaker's AS up
    /// to this many times (BIRD's `allow local as`; Calico's BGPPeer
    /// `numAllowedLocalASNumbers`); 0 refuses any, as RFC 4271 §9.1.2 does.
    #[serde(default)]
    pub allow_local_as: u32,
    /// A gateway the peer is reached through: a static route to the peer's
    /// address via it goes into the kernel (Calico's BGPPeer `reachableBy`,
    /// for a peer beyond a router the node's default route does not use).
    #[serde(default)]
    pub reachable_by: Option<IpAddr>,
    /// The `[[filter]]`s routes to and from this peer go through, in order
    /// (Calico's BGPPeer `filters`).
    #[serde(default)]
    pub filters: Vec<String>,
    /// The most paths the peer may send, all families together.
    #[serde(default)]
    pub max_prefixes: Option<PrefixLimit>,
    /// Bidirectional Forwarding Detection (RFC 5880) with the peer: when
    /// its BFD session goes down, so does the BGP session, at once, and it
    /// starts again only once BFD is up. `bfd = {}` takes the defaults.
    #[serde(default)]
    pub bfd: Option<BfdConfig>,
}

/// A peer's BFD timers (BIRD's `min tx interval`, `min rx interval` and
/// `multiplier`; FRR's `transmit-interval`, `receive-interval` and
/// `detect-multiplier`). The peers' BFD agree on the slower of what each
/// side asks; a silent peer is down after `multiplier` intervals.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BfdConfig {
    /// Milliseconds: the fastest this side wants to send.
    #[serde(default = "default_bfd_interval")]
    pub min_tx_ms: u32,
    /// Milliseconds: the fastest this side can take the peer's packets.
    #[serde(default = "default_bfd_interval")]
    pub min_rx_ms: u32,
    /// Packets missed before the peer is down.
    #[serde(default = "default_bfd_multiplier")]
    pub multiplier: u8,
}

impl Default for BfdConfig {
    fn default() -> Self {
        Self {
            min_tx_ms: DEFAULT_BFD_INTERVAL_MS,
            min_rx_ms: DEFAULT_BFD_INTERVAL_MS,
            multiplier: DEFAULT_BFD_MULTIPLIER,
        }
    }
}

/// BIRD's and FRR's BFD defaults: 300 ms both ways, three packets.
pub const DEFAULT_BFD_INTERVAL_MS: u32 = 300;
pub const DEFAULT_BFD_MULTIPLIER: u8 = 3;

fn default_bfd_interval() -> u32 {
    DEFAULT_BFD_INTERVAL_MS
}

fn default_bfd_multiplier() -> u8 {
    DEFAULT_BFD_MULTIPLIER
}

/// A peer's limit on the paths it sends (BIRD's `receive limit`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PrefixLimit {
    /// The most paths.
    pub limit: u32,
    /// `warn` or `restart`.
    #[serde(default)]
    pub action: LimitAction,
    /// With `restart`: seconds in Idle before the session may start again.
    #[serde(default = "default_limit_restart_time")]
    pub restart_time: u16,
}

/// What crossing a [`PrefixLimit`] does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LimitAction {
    /// Log it, once per crossing; keep the session and every path.
    Warn,
    /// Close the session with a Cease, "Maximum Number of Prefixes Reached"
    /// (RFC 4486 §4), and start it again after the restart time.
    #[default]
    Restart,
}

/// Seconds a session ceased for its prefix limit rests before starting again.
pub const DEFAULT_LIMIT_RESTART_TIME: u16 = 60;

/// A prefix this speaker announces.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Originate {
    /// The prefix, e.g. a /26 block `10.244.1.0/26`.
    #[schemars(with = "String")]
    pub prefix: IpNet,
    /// `block` or `static`.
    #[serde(default)]
    pub kind: OriginKind,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OriginKind {
    /// One of this node's IPAM blocks: sent as the block, and more-specific
    /// routes inside it are never sent (Calico's `calico_aggr`).
    Block,
    /// A static or service range.
    #[default]
    Static,
}

/// Which prefixes may be sent to peers at all: routes inside these prefixes
/// (the enabled IP pools, service and static ranges); nothing else.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportConfig {
    /// The prefixes: routes inside one of them may be sent.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub prefixes: Vec<IpNet>,
    /// Ranges nothing inside of is sent, before any other rule (Calico's
    /// IP pools with `disableBGPExport`).
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub never: Vec<IpNet>,
    /// This node's /32 and /128 blocks: no blackhole; the workload route
    /// learned from the kernel at the block's prefix is its announcement,
    /// and nothing else inside it is sent (Calico's `calico_aggr`).
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub address_blocks: Vec<IpNet>,
    /// Communities every route sent inside a range carries, one
    /// `[[export.communities]]` table per range (Calico's
    /// `prefixAdvertisements`); a route inside several gets each range's.
    /// Not for a route a filter rule accepted: as in Calico, its rule decides.
    #[serde(default)]
    pub communities: Vec<PrefixCommunities>,
}

/// The communities added to routes sent inside one range.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PrefixCommunities {
    /// The range.
    #[schemars(with = "String")]
    pub prefix: IpNet,
    /// `aa:nn` communities and `aa:nn:mm` large communities, added in order.
    pub communities: Vec<CommunityValue>,
}

/// The most `[[export.communities]]` ranges: each route's set of ranges is
/// one bit each in the export cache's key.
pub const MAX_PREFIX_COMMUNITIES: usize = 64;

/// What routesync programs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KernelConfig {
    /// Program the kernel; off is "BGP only" mode, where Felix owns routes.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// The routing protocol number routes carry (12 is `proto bird`, what
    /// Calico's routes carry, so Felix and operators see them as before).
    #[serde(default = "default_kernel_protocol")]
    pub protocol: u8,
    /// The routing table (254 is `main`).
    #[serde(default = "default_kernel_table")]
    pub table: u32,
    /// The IP-in-IP device for routes across subnets.
    #[serde(default = "default_tunnel_device")]
    pub tunnel_device: String,
    /// The node's uplink interface; the one holding the node's IPv4 address
    /// when unset.
    #[serde(default)]
    pub uplink: Option<String>,
    /// The IP pools, one `[[kernel.pool]]` table each: how routes inside
    /// each are installed.
    #[serde(default, rename = "pool")]
    pub pools: Vec<PoolConfig>,
    /// Ranges advertised but never installed (service ranges).
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub never_install: Vec<IpNet>,
    /// Which pools' routes (and own blocks' blackholes) this node installs;
    /// Felix programs the others (Calico's BGPConfiguration
    /// `programClusterRoutes`). VXLAN pools are always Felix's.
    #[serde(default)]
    pub cluster_routes: ClusterRoutes,
    /// The kernel metric of routes of normal priority, per family (Calico's
    /// BGPConfiguration `ipv4NormalRoutePriority` and
    /// `ipv6NormalRoutePriority`). A route's priority travels as LOCAL_PREF
    /// = 2147483647 - metric; a lower metric than this is an elevated route
    /// (KubeVirt live migration), exported even inside an own block.
    #[serde(default)]
    pub route_priority: RoutePriority,
    /// Interfaces whose addresses are not learned as routes (BIRD's direct
    /// protocol), beside Felix's `cali*` and kube-proxy's `kube-ipvs*`:
    /// Calico's BGPConfiguration `ignoredInterfaces`, glob patterns as
    /// BIRD reads them (`*` any run of characters, `?` one).
    #[serde(default)]
    pub ignored_interfaces: Vec<String>,
}

/// The metric of routes of normal priority, per family; 1024 each unless
/// set, as in Calico.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RoutePriority {
    /// The normal metric of IPv4 routes (Calico's `ipv4NormalRoutePriority`).
    #[serde(default = "default_route_priority")]
    pub ipv4: u32,
    /// The normal metric of IPv6 routes (Calico's `ipv6NormalRoutePriority`).
    #[serde(default = "default_route_priority")]
    pub ipv6: u32,
}

/// Calico's default `ipv4NormalRoutePriority` and `ipv6NormalRoutePriority`.
pub const DEFAULT_ROUTE_PRIORITY: u32 = 1024;

/// The normal metrics accepted, as Calico validates the two fields: a
/// metric of 0 would leave no room for an elevated route.
pub const ROUTE_PRIORITY_RANGE: std::ops::RangeInclusive<u32> = 1..=2_147_483_646;

/// LOCAL_PREF = this - metric: Calico's mapping between the kernel metric
/// and BGP's LOCAL_PREF (its templates' `2147483647 - krt_metric`).
pub const LOCAL_PREF_OF_METRIC_0: u32 = 2_147_483_647;

fn default_route_priority() -> u32 {
    DEFAULT_ROUTE_PRIORITY
}

impl Default for RoutePriority {
    fn default() -> Self {
        Self {
            ipv4: DEFAULT_ROUTE_PRIORITY,
            ipv6: DEFAULT_ROUTE_PRIORITY,
        }
    }
}

impl RoutePriority {
    /// The normal metric for routes of `prefix`'s family.
    pub fn normal_for(&self, prefix: &IpNet) -> u32 {
        match prefix {
            IpNet::V4(_) => self.ipv4,
            IpNet::V6(_) => self.ipv6,
        }
    }
}

/// A log level, as Calico's `logSeverityScreen` names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum LogLevel {
    Debug,
    Info,
    Warning,
    Error,
    /// Only what stops bgpd; logged as errors.
    Fatal,
}

impl LogLevel {
    /// Calico's names, in order of verbosity.
    pub const NAMES: [&'static str; 5] = ["Debug", "Info", "Warning", "Error", "Fatal"];

    /// The level Calico names `name` (its validation takes any case).
    pub fn from_name(name: &str) -> Option<Self> {
        let all = [
            Self::Debug,
            Self::Info,
            Self::Warning,
            Self::Error,
            Self::Fatal,
        ];
        Self::NAMES
            .iter()
            .position(|n| n.eq_ignore_ascii_case(name.trim()))
            .map(|i| all[i])
    }
}

/// Calico's `programClusterRoutes`: which kinds of pool the BGP daemon
/// programs the cluster routes of; Felix programs the rest, under its own
/// FelixConfiguration `programClusterRoutes`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum ClusterRoutes {
    /// Every pool but VXLAN ones: the BIRD-era data plane.
    #[default]
    Enabled,
    /// None: Felix programs every cluster route.
    Disabled,
    /// IP-in-IP pools (ipip Always or CrossSubnet) only.
    #[serde(rename = "EnabledIPIPOnly")]
    EnabledIpipOnly,
    /// Unencapsulated pools (ipip and vxlan Never) only.
    EnabledNoEncapOnly,
}

impl ClusterRoutes {
    pub const NAMES: [&'static str; 4] = [
        "Enabled",
        "Disabled",
        "EnabledIPIPOnly",
        "EnabledNoEncapOnly",
    ];

    /// Calico's name of it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Enabled => "Enabled",
            Self::Disabled => "Disabled",
            Self::EnabledIpipOnly => "EnabledIPIPOnly",
            Self::EnabledNoEncapOnly => "EnabledNoEncapOnly",
        }
    }

    /// The setting Calico names `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Self::Enabled,
            Self::Disabled,
            Self::EnabledIpipOnly,
            Self::EnabledNoEncapOnly,
        ]
        .into_iter()
        .find(|c| c.name() == name)
    }
}

impl std::str::FromStr for ClusterRoutes {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        Self::from_name(text).ok_or_else(|| {
            format!(
                "{text:?} is not a programClusterRoutes value: {}",
                Self::NAMES.join(", ")
            )
        })
    }
}

impl ClusterRoutes {
    /// Whether this node programs IP-in-IP pools' routes.
    pub fn programs_ipip(self) -> bool {
        matches!(self, Self::Enabled | Self::EnabledIpipOnly)
    }

    /// Whether this node programs unencapsulated pools' routes.
    pub fn programs_no_encap(self) -> bool {
        matches!(self, Self::Enabled | Self::EnabledNoEncapOnly)
    }

    /// Whether this node programs the routes of `pool` (Calico confd's
    /// `programsPool`): a VXLAN pool never, an IP-in-IP one by the IPIP
    /// half, an unencapsulated one by the no-encap half.
    pub fn programs(self, pool: &PoolConfig) -> bool {
        if pool.vxlan {
            false
        } else if pool.ipip == IpipMode::Never {
            self.programs_no_encap()
        } else {
            self.programs_ipip()
        }
    }
}

impl Default for KernelConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            protocol: DEFAULT_KERNEL_PROTOCOL,
            table: DEFAULT_KERNEL_TABLE,
            tunnel_device: DEFAULT_TUNNEL_DEVICE.into(),
            uplink: None,
            pools: Vec::new(),
            never_install: Vec::new(),
            cluster_routes: ClusterRoutes::default(),
            route_priority: RoutePriority::default(),
            ignored_interfaces: Vec::new(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PoolConfig {
    /// The pool's range.
    #[schemars(with = "String")]
    pub cidr: IpNet,
    /// Calico's `ipipMode`: `Always`, `CrossSubnet` (through the tunnel only
    /// to next hops outside this node's subnet) or `Never`.
    #[serde(default)]
    pub ipip: IpipMode,
    /// VXLAN routes are Felix's; never installed here.
    #[serde(default)]
    pub vxlan: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum IpipMode {
    Always,
    CrossSubnet,
    #[default]
    Never,
}

fn default_port() -> u16 {
    DEFAULT_PORT
}
fn default_hold_time() -> u16 {
    DEFAULT_HOLD_TIME
}
fn default_connect_retry() -> u16 {
    DEFAULT_CONNECT_RETRY
}
fn default_connect_delay() -> u16 {
    DEFAULT_CONNECT_DELAY
}
fn default_error_wait() -> (u16, u16) {
    (DEFAULT_ERROR_WAIT_MIN, DEFAULT_ERROR_WAIT_MAX)
}
fn default_restart_time() -> u16 {
    DEFAULT_RESTART_TIME
}
fn default_limit_restart_time() -> u16 {
    DEFAULT_LIMIT_RESTART_TIME
}
fn default_true() -> bool {
    true
}
fn default_kernel_protocol() -> u8 {
    DEFAULT_KERNEL_PROTOCOL
}
fn default_kernel_table() -> u32 {
    DEFAULT_KERNEL_TABLE
}
fn default_tunnel_device() -> String {
    DEFAULT_TUNNEL_DEVICE.into()
}

impl SpeakerConfig {
    /// The filters `peer` names, in its order.
    pub fn filters_of<'c>(
        &'c self,
        peer: &'c PeerConfig,
    ) -> impl Iterator<Item = &'c FilterConfig> + 'c {
        peer.filters
            .iter()
            .filter_map(|name| self.filters.iter().find(|f| &f.name == name))
    }

    /// Parses and validates TOML.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let config: Self = toml::from_str(text).map_err(ConfigError::parse)?;
        config.validate()?;
        Ok(config)
    }

    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new("", format!("cannot read {}: {e}", path.display())))?;
        Self::from_toml(&text)
    }

    /// The node's address in `family`'s version (the source of next hops).
    pub fn address_for(&self, v4: bool) -> Option<IpAddr> {
        self.addresses
            .iter()
            .map(IpNet::addr)
            .find(|a| a.is_ipv4() == v4)
    }
}

impl PeerConfig {
    /// A peer with Calico's defaults.
    pub fn new(address: IpAddr, remote_as: Asn, kind: PeerKind) -> Self {
        Self {
            name: None,
            address,
            port: DEFAULT_PORT,
            remote_as,
            kind,
            passive: false,
            route_reflector_client: false,
            hold_time: DEFAULT_HOLD_TIME,
            keepalive_time: None,
            connect_retry_time: DEFAULT_CONNECT_RETRY,
            connect_delay_time: DEFAULT_CONNECT_DELAY,
            error_wait_time: default_error_wait(),
            restart_time: DEFAULT_RESTART_TIME,
            password: None,
            ttl_security: None,
            multihop: None,
            next_hop: NextHopMode::Auto,
            source_address: None,
            local_as: None,
            allow_local_as: 0,
            reachable_by: None,
            filters: Vec::new(),
            max_prefixes: None,
            bfd: None,
        }
    }

    /// The name operators see: the configured one, or Calico's
    /// `Mesh_10_0_0_2`, `Global_10_0_0_1_port_150`, `Node_fd00__3`.
    pub fn protocol_name(&self) -> String {
        if let Some(name) = &self.name {
            return name.clone();
        }
        let prefix = match self.kind {
            PeerKind::Mesh => "Mesh",
            PeerKind::Global => "Global",
            PeerKind::Node => "Node",
        };
        let address = self.address.to_string().replace(['.', ':'], "_");
        if self.port == DEFAULT_PORT || self.kind == PeerKind::Mesh {
            format!("{prefix}_{address}")
        } else {
            format!("{prefix}_{address}_port_{}", self.port)
        }
    }

    /// The keepalive interval: configured, or a third of the hold time.
    pub fn keepalive(&self) -> u16 {
        self.keepalive_time.unwrap_or(self.hold_time / 3)
    }
}

#[cfg(test)]
mod tests;
