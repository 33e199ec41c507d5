//! `confgen render --node NAME`: what a node would run from the current etcd
//! content, for operators comparing with what runs (or what confd generated).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use confgen::render::Renderer;
use confgen::secrets::{NoSecrets, SecretDir, SecretSource};
use confgen::watch::{list_once, EtcdConfig};
use proto::config::ClusterRoutes;

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Format {
    Json,
    Toml,
    /// The BIRD 1.6 configuration confd would render (Calico's fork, with krt_tunnel).
    Bird,
    /// The same for Debian's stock BIRD 1.6 (no krt_tunnel).
    BirdStock,
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
    /// Print the SpeakerConfig of NODE (passwords shown as ***).
    Render {
        #[arg(long, env = "NODENAME")]
        node: String,
        #[arg(long, value_enum, default_value = "json")]
        format: Format,
        /// A folder laid out like a mounted Secret volume, for passwords.
        #[arg(long, env = "BGPD_SECRETS_DIR")]
        secrets_dir: Option<PathBuf>,
        /// What an unset BGPConfiguration programClusterRoutes means, as
        /// bgpd's --cluster-routes-default.
        #[arg(long, env = "BGPD_CLUSTER_ROUTES_DEFAULT", default_value = "Enabled")]
        cluster_routes_default: ClusterRoutes,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let Command::Render {
        node,
        format,
        secrets_dir,
        cluster_routes_default,
    } = &cli.command;
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
    let mut renderer = Renderer::with_cluster_routes_default(*cluster_routes_default);
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
                Format::Bird => Ok(confgen::bird::render_bird(
                    &rendered.config,
                    confgen::bird::Flavor::Calico,
                )),
                Format::BirdStock => Ok(confgen::bird::render_bird(
                    &rendered.config,
                    confgen::bird::Flavor::Stock,
                )),
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
