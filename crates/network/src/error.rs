use std::path::PathBuf;

/// Everything that can go wrong while wiring container networking.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid bridge address {value:?}: {reason} (expected e.g. 172.30.0.1/16)")]
    InvalidCidr { value: String, reason: String },

    #[error("invalid interface name {0:?}: 1 to 15 characters of [A-Za-z0-9_.-]")]
    InvalidInterfaceName(String),

    #[error("invalid nftables table name {0:?}: letters, digits and _ only")]
    InvalidTableName(String),

    #[error("link {name} exists but is not a bridge; remove it or choose another bridge name")]
    NotABridge { name: String },

    #[error("link {name} not found")]
    LinkNotFound { name: String },

    #[error("no available IPv4 addresses on network {subnet}")]
    PoolExhausted { subnet: String },

    #[error("{ip} is not in subnet {subnet} of bridge {bridge}")]
    AddressOutOfSubnet {
        ip: std::net::Ipv4Addr,
        subnet: String,
        bridge: String,
    },

    #[error("address {ip} is already in use by container {owner}")]
    AddressInUse {
        ip: std::net::Ipv4Addr,
        owner: String,
    },

    #[error("invalid port specification: {0:?}")]
    InvalidPortSpec(String),

    #[error("host port ranges are not supported yet: {0:?} (publish a single port or 0 for a random one)")]
    HostPortRange(String),

    #[error("invalid IP address: {0}")]
    InvalidIp(String),

    #[error(
        "invalid host IP {0}: only IPv4 addresses (or :: for any) can be published on this network"
    )]
    InvalidHostIp(std::net::IpAddr),

    #[error("Bind for {host_ip}:{host_port} failed: port is already allocated")]
    PortAllocated {
        host_ip: std::net::IpAddr,
        host_port: u16,
    },

    #[error("failed to bind host port for {host_ip}:{host_port}:{container_ip}:{container_port}/{proto}: {reason}")]
    HostPortBind {
        host_ip: std::net::IpAddr,
        host_port: u16,
        container_ip: std::net::Ipv4Addr,
        container_port: u16,
        proto: &'static str,
        reason: String,
    },

    #[error("all ports are allocated (no free {proto} port in {low}-{high})")]
    AllPortsAllocated {
        proto: &'static str,
        low: u16,
        high: u16,
    },

    #[error("netlink: {context}: {message}")]
    Netlink { context: String, message: String },

    #[error("network namespace of pid {pid} ({path}): {source}")]
    Netns {
        pid: i32,
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("running {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },

    #[error("nft {action} failed: {stderr}")]
    Nft { action: String, stderr: String },

    #[error("unexpected nft output for {action}: {reason}")]
    NftOutput { action: String, reason: String },

    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("{path}: corrupt network state: {source}")]
    State {
        path: PathBuf,
        source: serde_json::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn netlink(context: impl Into<String>, err: impl std::fmt::Display) -> Self {
        Error::Netlink {
            context: context.into(),
            message: err.to_string(),
        }
    }
}
