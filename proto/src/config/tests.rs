use super::*;

const NODE: &str = r#"
node_name = "node-1"
router_id = "10.0.1.11"
local_as = "1.10"
addresses = ["10.0.1.11/24", "fd00:1::11/64"]

[[peer]]
address = "10.0.1.12"
remote_as = 65546
kind = "mesh"
passive = true

[[peer]]
address = "10.0.9.1"
port = 150
remote_as = 64600
hold_time = 90
password = "s3cret"
next_hop = "self"

[[originate]]
prefix = "10.244.1.0/26"
kind = "block"

[export]
prefixes = ["10.244.0.0/16"]
communities = [{ prefix = "10.244.0.0/16", communities = ["64512:100", "64512:1:2"] }]

[kernel]
pool = [{ cidr = "10.244.0.0/16", ipip = "CrossSubnet" }]
never_install = ["10.96.0.0/12"]
"#;

fn error(text: &str) -> ConfigError {
    SpeakerConfig::from_toml(text).expect_err("refused")
}

fn with_peer(extra: &str) -> String {
    format!(
        "node_name = \"n\"\nrouter_id = \"10.0.1.11\"\nlocal_as = 64512\n\n[[peer]]\naddress = \"10.0.1.12\"\nremote_as = 64512\n{extra}\n"
    )
}

#[test]
fn a_node_config_with_calico_defaults() {
    let config = SpeakerConfig::from_toml(NODE).unwrap();
    assert_eq!(config.local_as, Asn(65546));
    assert_eq!(
        config.listen,
        ListenConfig {
            addresses: Vec::new(),
            port: 179
        }
    );
    let mesh = &config.peers[0];
    assert_eq!(mesh.protocol_name(), "Mesh_10_0_1_12");
    assert_eq!(
        (mesh.hold_time, mesh.keepalive(), mesh.connect_retry_time),
        (240, 80, 5)
    );
    assert_eq!((mesh.connect_delay_time, mesh.restart_time), (2, 120));
    assert_eq!(mesh.error_wait_time, (5, 30));
    assert!(mesh.passive);
    let global = &config.peers[1];
    assert_eq!(global.protocol_name(), "Global_10_0_9_1_port_150");
    assert_eq!((global.hold_time, global.keepalive()), (90, 30));
    assert_eq!(global.next_hop, NextHopMode::SelfAddress);
    assert_eq!(global.password.as_ref().map(Secret::expose), Some("s3cret"));
    assert_eq!(config.originate[0].kind, OriginKind::Block);
    assert_eq!(
        config.export.communities[0].communities,
        [
            CommunityValue::Standard(64512, 100),
            CommunityValue::Large(64512, 1, 2)
        ]
    );
    assert_eq!(config.kernel.pools[0].ipip, IpipMode::CrossSubnet);
    assert_eq!((config.kernel.protocol, config.kernel.table), (12, 254));
    assert_eq!(config.address_for(true), Some("10.0.1.11".parse().unwrap()));
}

#[test]
fn passwords_never_show() {
    let config = SpeakerConfig::from_toml(NODE).unwrap();
    assert!(!format!("{config:?}").contains("s3cret"));
    let json = serde_json::to_string(&config).unwrap();
    assert!(!json.contains("s3cret") && json.contains("***"));
}

#[test]
fn ipv6_peer_names() {
    let peer = PeerConfig::new("fd00::3".parse().unwrap(), Asn(64512), PeerKind::Node);
    assert_eq!(peer.protocol_name(), "Node_fd00__3");
}

#[test]
fn errors_name_the_field() {
    let cases = [
        (with_peer("hold_time = 2"), "peer[0].hold_time"),
        (with_peer("keepalive_time = 300"), "peer[0].keepalive_time"),
        (
            with_peer("remote_as = 64512")
                .replace("remote_as = 64512\nremote_as = 64512", "remote_as = 0"),
            "peer[0].remote_as",
        ),
        (with_peer("remote_as = 1"), ""),
        (with_peer("restart_time = 5000"), "peer[0].restart_time"),
        (
            with_peer("route_reflector_client = true"),
            "peer[0].route_reflector_client",
        ),
        (with_peer("ttl_security = 0"), "peer[0].ttl_security"),
        (
            with_peer("error_wait_time = [10, 5]"),
            "peer[0].error_wait_time",
        ),
        (
            with_peer("error_wait_time = [0, 5]"),
            "peer[0].error_wait_time",
        ),
        (
            with_peer("max_prefixes = { limit = 0 }"),
            "peer[0].max_prefixes.limit",
        ),
        (
            with_peer("max_prefixes = { limit = 5, restart_time = 0 }"),
            "peer[0].max_prefixes.restart_time",
        ),
        (with_peer("bfd = { multiplier = 0 }"), "peer[0].bfd.multiplier"),
        (with_peer("bfd = { min_tx_ms = 5 }"), "peer[0].bfd.min_tx_ms"),
        (with_peer("bfd = { min_rx_ms = 70000 }"), "peer[0].bfd.min_rx_ms"),
        (
            with_peer("source_address = \"fd00::1\""),
            "peer[0].source_address",
        ),
        (
            with_peer("\n[[peer]]\naddress = \"10.0.1.12\"\nremote_as = 1"),
            "peer[1].address",
        ),
        (
            with_peer("\n[[originate]]\nprefix = \"10.244.1.1/26\""),
            "originate[0].prefix",
        ),
        (
            with_peer("\n[[filter]]\nname = \"tor\"\nimport_v4 = [{ action = \"Reject\", operations = [{ set_priority = 10 }] }]"),
            "filter[0].import_v4[0].operations",
        ),
        (
            with_peer("\n[[filter]]\nname = \"tor\"\nexport_v6 = [{ action = \"Accept\", priority = 0 }]"),
            "filter[0].export_v6[0].priority",
        ),
        (
            with_peer("\n[[filter]]\nname = \"tor\"\nexport_v6 = [{ action = \"Accept\", operations = [{ prepend_as_path = [] }] }]"),
            "filter[0].export_v6[0].operations",
        ),
        (
            format!(
                "listen = {{ addresses = [\"10.0.0.1\", \"10.0.0.2\"] }}\n{}",
                with_peer("")
            ),
            "listen.addresses",
        ),
        (
            with_peer("reachable_by = \"fd00::1\""),
            "peer[0].reachable_by",
        ),
        (with_peer("filters = [\"tor\"]"), "peer[0].filters[0]"),
        (
            with_peer(
                "\n[[filter]]\nname = \"tor\"\nimport_v4 = [{ action = \"Accept\", match_operator = \"In\", cidr = \"fd00::/64\" }]",
            ),
            "filter[0].import_v4[0].cidr",
        ),
        (
            with_peer("\n[[filter]]\nname = \"tor\"\nexport_v4 = [{ action = \"Reject\", cidr = \"10.0.0.0/8\" }]"),
            "filter[0].export_v4[0].match_operator",
        ),
        (
            with_peer("\n[[filter]]\nname = \"it's\""),
            "filter[0].name",
        ),
        (
            with_peer("\n[kernel]\nroute_priority = { ipv4 = 0 }"),
            "kernel.route_priority.ipv4",
        ),
        (
            with_peer("\n[kernel]\nroute_priority = { ipv6 = 2147483647 }"),
            "kernel.route_priority.ipv6",
        ),
    ];
    for (text, field) in cases {
        let err = error(&text);
        if field.is_empty() {
            // A duplicate key: toml itself refuses it, naming the line.
            assert!(err.message.contains("remote_as"), "{err}");
        } else {
            assert_eq!(err.field, field, "{err}");
        }
    }
    assert_eq!(
        error("node_name = \"n\"\nrouter_id = \"0.0.0.0\"\nlocal_as = 1").field,
        "router_id"
    );
    assert_eq!(
        error("node_name = \"n\"\nrouter_id = \"10.0.0.1\"\nlocal_as = \"x\"").field,
        ""
    );
    // A community that is neither aa:nn nor aa:nn:mm: toml's error names it.
    let community = error(&with_peer(
        "\n[export]\ncommunities = [{ prefix = \"10.0.0.0/8\", communities = [\"70000:1\"] }]",
    ));
    assert!(community.message.contains("70000:1"), "{community}");
    let unknown = error("node_name = \"n\"\nrouter_id = \"10.0.0.1\"\nlocal_as = 1\nsurprise = 2");
    assert!(unknown.message.contains("surprise"), "{unknown}");
}

#[test]
fn own_address_is_not_a_peer() {
    let text = format!("addresses = [\"10.0.1.12/24\"]\n{}", with_peer(""));
    assert_eq!(error(&text).field, "peer[0].address");
}

#[test]
fn a_prefix_limit_restarts_by_default() {
    let bfd = SpeakerConfig::from_toml(&with_peer("bfd = {}")).unwrap();
    assert_eq!(bfd.peers[0].bfd, Some(BfdConfig::default()));
    let bfd =
        SpeakerConfig::from_toml(&with_peer("bfd = { min_tx_ms = 100, multiplier = 5 }")).unwrap();
    let timers = bfd.peers[0].bfd.unwrap();
    assert_eq!(
        (timers.min_tx_ms, timers.min_rx_ms, timers.multiplier),
        (100, 300, 5)
    );
    let config = SpeakerConfig::from_toml(&with_peer("max_prefixes = { limit = 1000 }")).unwrap();
    let limit = config.peers[0].max_prefixes.unwrap();
    assert_eq!(limit.limit, 1000);
    assert_eq!(limit.action, LimitAction::Restart);
    assert_eq!(limit.restart_time, DEFAULT_LIMIT_RESTART_TIME);
    let warn = SpeakerConfig::from_toml(&with_peer(
        "[peer.max_prefixes]\nlimit = 10\naction = \"warn\"",
    ))
    .unwrap();
    assert_eq!(
        warn.peers[0].max_prefixes.as_ref().map(|l| l.action),
        Some(LimitAction::Warn)
    );
    assert!(SpeakerConfig::from_toml(&with_peer(
        "max_prefixes = { limit = 5, action = \"drop\" }"
    ))
    .is_err());
}
