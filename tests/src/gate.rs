//! A gate that client hooks wait behind: a test holds reconnections until it has done what must
//! happen mid-recovery (a restart, a kill), however slow the machine, instead of hoping a sleep
//! in the hook lasts long enough.

use std::path::PathBuf;

/// A file whose presence lets gated hooks finish ([`HookGate::wait_in_hook`]).
#[derive(Debug)]
pub struct HookGate {
    path: PathBuf,
}

impl HookGate {
    /// A gate at `path`, open.
    pub fn open_at(path: PathBuf) -> HookGate {
        let gate = HookGate { path };
        gate.open();
        gate
    }

    /// Shell to append to a hook's command: it waits while the gate is shut, 25 s at most (inside
    /// a client's 30 s hook time-out).
    pub fn wait_in_hook(&self) -> String {
        let path = self.path.display();
        format!("; for _ in $(seq 250); do [ -e '{path}' ] && break; sleep 0.1; done")
    }

    /// Holds gated hooks until [`HookGate::open`].
    pub fn shut(&self) {
        std::fs::remove_file(&self.path).expect("the hooks' gate, shut");
    }

    /// Lets gated hooks finish.
    pub fn open(&self) {
        std::fs::write(&self.path, b"").expect("the hooks' gate, open");
    }
}
