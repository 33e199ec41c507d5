//! `confgen render --node NAME`: what a node would run from the current etcd
//! content, for operators comparing with what runs (or what confd generated).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use confgen::render::{Renderer, RouterIdSource, Settings};
use confgen::secrets::{NoSecrets, SecretDir, SecretSource};
use confgen::watch::{list_once, EtcdConfig};
use proto::config::ClusterRoutes;

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Format {
    Json,
    Toml,
    /// The BIRD 1.6 bird.cfg (IPv4) confd would render (Calico's fork, with krt_tunnel).
    Bird,
    /// The BIRD 1.6 bird6.cfg (IPv6) confd would render.
    Bird6,
    /// bird.cfg for Debian's stock BIRD 1.6 (no krt_tunnel).
    BirdStock,
    /// bird6.cfg for Debian's stock BIRD 1.6.
    Bird6Stock,
}

#[derive(Parser)]
#[command(
    version,
    about = "Renders a node's speaker configuration from Calico's resources in etcd"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// etcd endpoints, comma-separated (Calico's ETCD_ENDPOINTS).
    #[arg(
        long,
        env = "ETCD_ENDPOINTS",
        global = true,
        default_value = "http://127.0.0.1:2379"
    )]
    etcd_endpoints: String,
    #[arg(long, env = "ETCD_CA_CERT_FILE", global = true)]
    etcd_ca_cert_file: Option<PathBuf>,
    #[arg(long, env = "ETCD_CERT_FILE", global = true)]
    etcd_cert_file: Option<PathBuf>,
    #[arg(long, env = "ETCD_KEY_FILE", global = true)]
    etcd_key_file: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Print the SpeakerConfig of NODE (passwords shown as *** unless
    /// --show-secrets).
    Render {
        #[arg(long, env = "NODENAME")]
        node: String,
        #[arg(long, value_enum, default_value = "json")]
        format: Format,
        /// Write BGP passwords as they are (the BIRD formats), for a
        /// configuration BIRD is to run.
        #[arg(long)]
        show_secrets: bool,
        /// A folder laid out like a mounted Secret volume, for passwords.
        #[arg(long, env = "BGPD_SECRETS_DIR")]
        secrets_dir: Option<PathBuf>,
        /// What an unset BGPConfiguration programClusterRoutes means, as
        /// bgpd's --cluster-routes-default.
        #[arg(long, env = "BGPD_CLUSTER_ROUTES_DEFAULT", default_value = "Enabled")]
        cluster_routes_default: ClusterRoutes,
        /// The router id, as calico-node's CALICO_ROUTER_ID: an IPv4
        /// address, or "hash"; the node's IPv4 address when unset.
        #[arg(long, env = "CALICO_ROUTER_ID", value_name = "ID", default_value = "")]
        router_id: RouterIdSource,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let Command::Render {
        node,
        format,
        show_secrets,
        secrets_dir,
        cluster_routes_default,
        router_id,
    } = &cli.command;
    if *show_secrets && matches!(format, Format::Json | Format::Toml) {
        eprintln!(
            "confgen: --show-secrets is for the BIRD formats; json and toml always mask passwords"
        );
        return ExitCode::from(2);
    }
    let etcd = EtcdConfig {
        ca_cert: cli.etcd_ca_cert_file.clone(),
        cert: cli.etcd_cert_file.clone(),
        key: cli.etcd_key_file.clone(),
        ..EtcdConfig::from_endpoints(&cli.etcd_endpoints)
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("confgen: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (snapshot, _) = match runtime.block_on(list_once(&etcd, node)) {
        Ok(listed) => listed,
        Err(e) => {
            eprintln!("confgen: cannot read etcd at {}: {e}", cli.etcd_endpoints);
            return ExitCode::FAILURE;
        }
    };
    // What the datastore holds that cannot be used, whether or not it renders.
    for problem in snapshot.problems() {
        eprintln!("confgen: skipped {problem}");
    }
    let secrets: Box<dyn SecretSource> = match secrets_dir {
        Some(dir) => Box::new(SecretDir(dir.clone())),
        None => Box::new(NoSecrets),
    };
    let mut renderer = Renderer::with_settings(Settings {
        cluster_routes_default: *cluster_routes_default,
        router_id: *router_id,
    });
    match renderer.render(&snapshot, node, secrets.as_ref()) {
        Ok(rendered) => {
            let stored: Vec<_> = snapshot.problems().collect();
            for problem in rendered.problems.iter().filter(|p| !stored.contains(p)) {
                eprintln!("confgen: warning: {problem}");
            }
            let text = match format {
                Format::Json => {
                    serde_json::to_string_pretty(&rendered.config).map_err(|e| e.to_string())
                }
                Format::Toml => toml::to_string(&rendered.config).map_err(|e| e.to_string()),
                Format::Bird | Format::Bird6 | Format::BirdStock | Format::Bird6Stock => {
                    use confgen::bird::{render, Family, Flavor, Options};
                    let (flavor, family) = match format {
                        Format::Bird => (Flavor::Calico, Family::V4),
                        Format::Bird6 => (Flavor::Calico, Family::V6),
                        Format::BirdStock => (Flavor::Stock, Family::V4),
                        _ => (Flavor::Stock, Family::V6),
                    };
                    let options = Options {
                        flavor,
                        family,
                        show_secrets: *show_secrets,
                    };
                    Ok(render(&rendered.config, options))
                }
            };
            match text {
                Ok(text) => {
                    println!("{text}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("confgen: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Err(e) => {
            eprintln!("confgen: {e}");
            ExitCode::FAILURE
        }
    }
}
