//! What operators can ask the speaker: typed snapshots of the speaker, its
//! peers and its routes, taken inside the actor (so consistent) and answered
//! over a oneshot channel. The API servers (gRPC, BIRD-compatible socket,
//! HTTP) only format these.

use std::net::{IpAddr, Ipv4Addr};
use std::time::SystemTime;

use ipnet::IpNet;
use proto::config::PeerKind;

use crate::fsm::State;
use crate::neighbor::PeerStats;
use crate::packet::Family;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpeakerStatus {
    pub node_name: String,
    pub router_id: Ipv4Addr,
    pub local_as: u32,
    pub cluster_id: Option<Ipv4Addr>,
    pub started: SystemTime,
    pub last_reconfigured: SystemTime,
    pub reconfigurations: u64,
    /// Every peer has sent End-of-RIB (RFC 4724) since start.
    pub converged: bool,
    /// Restarted with its routes kept in the kernel, this bgpd has not yet
    /// had every peer's table: BIRD's "graceful restart recovery".
    pub recovering: bool,
    pub prefixes: usize,
    pub attr_sets: usize,
    /// How long each UPDATE took the speaker since start.
    pub update_processing: routesync::Histogram,
}

/// One peer as operators see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerStatus {
    /// Calico's protocol name: `Mesh_10_0_0_2`, `Global_...`, `Node_...`.
    pub name: String,
    pub address: IpAddr,
    pub port: u16,
    pub kind: PeerKind,
    pub remote_as: u32,
    pub passive: bool,
    pub state: State,
    /// When `state` was entered.
    pub since: SystemTime,
    /// The last error, without the state: "Socket: Connection refused",
    /// "Received: Hold timer expired" (BIRD's words).
    pub last_error: Option<String>,
    pub session: Option<SessionStatus>,
    pub stats: PeerStats,
    /// Paths from this peer in the RIB now.
    pub prefixes: usize,
    /// Set while the peer is in graceful restart and its routes are kept.
    pub restart: Option<RestartStatus>,
    /// With BFD configured: whether the peer's BFD session is up.
    pub bfd: Option<bool>,
}

/// A peer's graceful restart, as its receiving speaker sees it (RFC 4724 §4.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestartStatus {
    /// When its session ended.
    pub since: SystemTime,
    /// Its paths kept stale.
    pub stale: usize,
    /// Its new session is up; the stale paths wait for its End-of-RIB.
    pub reconnected: bool,
}

#[cfg(test)]
impl PeerStatus {
    /// A mesh peer at `address` on port 179, in `state` since the epoch,
    /// named as Calico names it: a fixture for the API's tests.
    pub(crate) fn mesh_example(address: &str, state: State) -> Self {
        Self {
            name: format!("Mesh_{}", address.replace(['.', ':'], "_")),
            address: address.parse().expect("a test address"),
            port: 179,
            kind: PeerKind::Mesh,
            remote_as: 64512,
            passive: false,
            state,
            since: SystemTime::UNIX_EPOCH,
            last_error: None,
            session: None,
            stats: PeerStats::default(),
            prefixes: 0,
            restart: None,
            bfd: None,
        }
    }
}

/// What an Established session negotiated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionStatus {
    pub peer_id: Ipv4Addr,
    pub local_address: Option<IpAddr>,
    pub hold_time: u16,
    pub families: Vec<Family>,
    pub four_octet_as: bool,
    pub route_refresh: bool,
    pub extended_message: bool,
    pub add_path_receive: Vec<Family>,
    pub add_path_send: Vec<Family>,
    pub graceful_restart: bool,
    pub external: bool,
}

/// One prefix in the RIB, with every path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteStatus {
    pub prefix: IpNet,
    pub paths: Vec<PathStatus>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathStatus {
    /// The peer's name, "local" for an originated route, "kernel1" for one
    /// learned from the kernel (BIRD's name of its kernel protocol).
    pub from: String,
    /// For a route learned from the kernel: the device it leaves by.
    pub device: Option<String>,
    pub next_hop: IpAddr,
    pub origin: Option<crate::packet::Origin>,
    pub as_path: Vec<u32>,
    pub local_pref: Option<u32>,
    pub med: Option<u32>,
    pub communities: Vec<String>,
    /// Set by a route reflector (RFC 4456 §8).
    pub originator_id: Option<Ipv4Addr>,
    pub cluster_list: Vec<Ipv4Addr>,
    pub best: bool,
    /// In the equal-cost set that goes to the kernel.
    pub multipath: bool,
}

impl PeerStatus {
    /// BIRD's "up" is an Established session; everything else is "start".
    pub fn is_up(&self) -> bool {
        self.state == State::Established
    }

    /// The BGP state as BIRD names it, with `Passive` for a passive peer
    /// waiting for a connection.
    pub fn bird_state(&self) -> &'static str {
        if self.passive && self.state == State::Active {
            "Passive"
        } else {
            self.state.name()
        }
    }

    /// BIRD's info column: the state padded to 14, then the last error
    /// (`"%-14s%s"` in proto/bgp/bgp.c).
    pub fn bird_info(&self) -> String {
        match (&self.last_error, self.is_up()) {
            (Some(error), false) => format!("{:<14}{error}", self.bird_state()),
            _ => self.bird_state().to_owned(),
        }
    }
}

/// A question for the speaker, with where to send the answer.
#[derive(Debug)]
pub enum Query {
    Speaker(tokio::sync::oneshot::Sender<SpeakerStatus>),
    Peers(tokio::sync::oneshot::Sender<Vec<PeerStatus>>),
    /// Every route, or those inside a prefix.
    Routes(
        Option<IpNet>,
        tokio::sync::oneshot::Sender<Vec<RouteStatus>>,
    ),
    /// Restart a peer's session (Cease / Administrative Reset).
    Reset(String, tokio::sync::oneshot::Sender<Result<(), Refused>>),
    /// Ask a peer to send its routes again (RFC 2918).
    Refresh(String, tokio::sync::oneshot::Sender<Result<(), Refused>>),
}

/// Why the speaker did not do what an operator asked. The speaker is the
/// one place that decides; the API only maps these to its codes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The speaker's actor has ended (bgpd is shutting down).
    #[error("the speaker has stopped")]
    Stopped,
    #[error("bgpd has no configuration yet")]
    NotConfigured,
    #[error("no peer named {0}")]
    NoSuchPeer(String),
    /// A route refresh needs a session (RFC 2918 §3).
    #[error("{name} is not established ({state})")]
    NotEstablished { name: String, state: &'static str },
    /// RFC 2918 §4: only a peer that offered the capability is asked.
    #[error("{0} did not offer route refresh (RFC 2918)")]
    NoRouteRefresh(String),
}
