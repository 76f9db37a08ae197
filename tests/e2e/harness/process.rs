//! Child processes that cannot outlive their test.
//!
//! Each child runs in a process group of its own (so that Kamailio's workers
//! go with it) and gets SIGKILL from the kernel if the thread that started it
//! dies (PR_SET_PDEATHSIG: start children from the test's own thread, not
//! from a pool thread that may exit first). Dropping the [`Guard`] sends
//! SIGTERM to the group, waits briefly, sends SIGKILL and reaps the child.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus};
use std::time::Duration;

pub struct Guard {
    name: String,
    child: Child,
    status: Option<ExitStatus>,
}

impl Guard {
    /// Start `command`; `name` identifies it in failure messages.
    pub fn spawn(name: &str, mut command: Command) -> Guard {
        command.process_group(0);
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Guard { name: name.to_string(), child, status: None }
    }

    /// The process id (also the id of its process group).
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The exit status, if the process has exited (it is reaped then).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().unwrap_or_else(|e| panic!("wait for {}: {e}", self.name));
        }
        self.status
    }

    /// Wait up to `limit` for the process to exit by itself.
    pub fn wait_for_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        super::wait_until(limit, || self.exited().is_some());
        self.exited()
    }

    fn signal_group(&self, signal: libc::c_int) {
        let group = self.child.id() as libc::pid_t;
        // SAFETY: plain syscall; ESRCH (the group is gone) is fine.
        unsafe {
            libc::kill(-group, signal);
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if self.exited().is_none() {
            self.signal_group(libc::SIGTERM);
            self.wait_for_exit(Duration::from_secs(2));
        }
        // Workers of a process that exited may still be in its group.
        self.signal_group(libc::SIGKILL);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
