//! The operator interfaces: BIRD's control-socket protocol (for calicoctl,
//! calico-node's probes, birdc), HTTP health and metrics, and the gRPC API.

pub mod bird;
pub mod clock;
pub mod grpc;
pub mod http;
