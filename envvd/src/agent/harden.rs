//! Keeps key material out of core files and away from debuggers.

/// Not dumpable: no core file, and other processes of the same user can't
/// ptrace us or read our memory through /proc. Also sets the core size to 0.
pub fn harden_process() -> std::io::Result<()> {
    use rustix::process::{DumpableBehavior, Resource, Rlimit, set_dumpable_behavior, setrlimit};
    set_dumpable_behavior(DumpableBehavior::NotDumpable)?;
    setrlimit(
        Resource::Core,
        Rlimit {
            current: Some(0),
            maximum: Some(0),
        },
    )?;
    Ok(())
}
