//! The Lustre model's `lctl` (see `vigil_tests::lustre`): put on a daemon's `PATH` as `lctl`,
//! it answers for node `$LUSTRE_MODEL_NODE` of the world in `$LUSTRE_MODEL_WORLD`, printing
//! what real `lctl` prints and failing with its errno as the exit status.

use std::path::PathBuf;
use std::process::ExitCode;

use vigil_tests::lustre::{run_lctl, NODE_VAR, WORLD_VAR};

fn main() -> ExitCode {
    let (Some(world), Some(node)) = (std::env::var_os(WORLD_VAR), std::env::var(NODE_VAR).ok()) else {
        eprintln!("lctl (Lustre model): {WORLD_VAR} and {NODE_VAR} must be set");
        return ExitCode::from(2);
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run_lctl(&PathBuf::from(world), &node, &args) {
        Ok(out) => {
            print!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {}", e.message);
            ExitCode::from(u8::try_from(e.errno).unwrap_or(1))
        }
    }
}
