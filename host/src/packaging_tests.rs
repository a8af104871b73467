//! What ships beside the binary stays true to it: every example config in `contrib/config/`
//! loads with the real loader, every systemd unit in `contrib/systemd/` starts a command the CLI
//! accepts with a config that exists, and shell completions cover every subcommand.

use std::path::{Path, PathBuf};

use clap::{CommandFactory, Parser};

use crate::config::{required, wire_name, wire_nids, ClientOpts, Layered, MgsOpts, RouterOpts, ServerOpts};
use crate::{Cli, Command};

fn contrib(dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../contrib").join(dir)
}

/// The files of `contrib/<dir>` ending in `ext`, sorted.
fn files(dir: &str, ext: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(contrib(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    files.sort();
    files
}

/// A hook command of an example config: an installed path whose script is in `contrib/lustre/`.
fn assert_shipped_hook(command: Option<&str>) {
    let command = command.expect("the example sets a hook");
    let script = command.strip_prefix("/usr/libexec/vigil/").expect("installed under /usr/libexec/vigil");
    let meta = std::fs::metadata(contrib("lustre").join(script)).expect("the hook is shipped");
    use std::os::unix::fs::PermissionsExt;
    assert_ne!(meta.permissions().mode() & 0o111, 0, "{script} is executable");
}

#[test]
fn every_example_config_loads_with_the_real_loader() {
    let configs = files("config", "toml");
    let stems: Vec<String> =
        configs.iter().map(|p| p.file_stem().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(stems, ["client", "mgs", "router", "server"]);
    for path in configs {
        let config = Some(path.clone());
        let what = path.display().to_string();
        match path.file_stem().unwrap().to_str().unwrap() {
            "mgs" => {
                let opts = MgsOpts { config, ..MgsOpts::default() }.load().expect(&what);
                required(opts.listen, "listen").expect(&what);
                wire_name(opts.name.as_deref().unwrap(), "MGS").expect(&what);
                opts.node.timing.resolve().expect(&what);
            }
            "router" => {
                let opts = RouterOpts { config, ..RouterOpts::default() }.load().expect(&what);
                required(opts.listen, "listen").expect(&what);
                assert!((1..=2).contains(&opts.upstream.parents.len()), "{what}");
                assert!(opts.upstream.order_pubs.len() <= 2, "{what}");
                opts.node.timing.resolve().expect(&what);
            }
            "client" => {
                let opts = ClientOpts { config, ..ClientOpts::default() }.load().expect(&what);
                wire_name(&required(opts.name, "name").unwrap(), "node").expect(&what);
                assert!((1..=2).contains(&opts.upstream.parents.len()), "{what}");
                assert_shipped_hook(opts.on_order.as_deref());
                opts.node.timing.resolve().expect(&what);
            }
            "server" => {
                let opts = ServerOpts { config, ..ServerOpts::default() }.load().expect(&what);
                wire_name(&required(opts.target, "target").unwrap(), "target").expect(&what);
                wire_nids::<2>(&opts.target_addrs).expect(&what);
                assert_shipped_hook(opts.on_close_window.as_deref());
                opts.node.timing.resolve().expect(&what);
            }
            other => panic!("no role {other}"),
        }
    }
}

#[test]
fn every_unit_runs_a_command_the_cli_accepts_with_a_shipped_config() {
    let units = files("systemd", "service");
    assert_eq!(units.len(), 4);
    for unit in units {
        let text = std::fs::read_to_string(&unit).unwrap();
        let role = unit.file_stem().unwrap().to_str().unwrap().strip_prefix("vigil-").unwrap().to_owned();
        let exec: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("ExecStart="))
            .flat_map(str::split_whitespace)
            .collect();
        assert_eq!(exec.first(), Some(&"/usr/bin/vigil"), "{}", unit.display());
        // systemd's %d is the credentials directory.
        let args: Vec<String> = exec.iter().map(|a| a.replace("%d", "/run/credentials/u")).collect();
        let cli = Cli::try_parse_from(&args).unwrap_or_else(|e| panic!("{}: {e}", unit.display()));
        let config = match cli.command {
            Command::Mgs(o) => (role == "mgs").then_some(o.config),
            Command::Router(o) => (role == "router").then_some(o.config),
            Command::Client(o) => (role == "client").then_some(o.config),
            Command::Server(o) => (role == "server").then_some(o.config),
            _ => None,
        };
        let config =
            config.flatten().unwrap_or_else(|| panic!("{}: runs vigil {role} --config", unit.display()));
        assert_eq!(config, Path::new("/etc/vigil").join(format!("{role}.toml")));
        assert!(contrib("config").join(format!("{role}.toml")).exists());
        for needed in ["Restart=always", "KillSignal=SIGTERM", "StateDirectory=vigil", "NoNewPrivileges=yes"]
        {
            assert!(text.lines().any(|l| l == needed), "{}: {needed}", unit.display());
        }
    }
}

#[test]
fn completions_cover_every_subcommand() {
    for shell in [clap_complete::Shell::Bash, clap_complete::Shell::Zsh, clap_complete::Shell::Fish] {
        let mut out = Vec::new();
        clap_complete::generate(shell, &mut Cli::command(), "vigil", &mut out);
        let out = String::from_utf8(out).unwrap();
        for sub in Cli::command().get_subcommands() {
            assert!(out.contains(sub.get_name()), "{shell}: {}", sub.get_name());
        }
        assert!(out.contains("on-close-window"), "{shell}: subcommand flags too");
    }
}

#[test]
fn every_subcommand_has_examples_in_its_long_help() {
    for sub in Cli::command().get_subcommands_mut() {
        let help = sub.render_long_help().to_string();
        assert!(help.contains("Examples:\n  vigil "), "{help}");
    }
}
