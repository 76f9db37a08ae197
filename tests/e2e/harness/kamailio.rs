//! Kamailio in the foreground: with `tests/kamailio/upstream.cfg` (a
//! registrar, usrloc in memory, and a stateful proxy on one UDP address), or
//! with any other configuration whose addresses are `#!define`s the test
//! sets with `-A` (`examples/kamailio/kamailio.cfg`).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::process::Guard;
use super::sip::{self};
use super::{free_port_on, package_file, require_tool, tail, wait_until};

pub struct Kamailio {
    /// Its UDP listener.
    pub addr: SocketAddr,
    log: PathBuf,
    process: Guard,
    dir: tempfile::TempDir,
}

impl Kamailio {
    /// Start Kamailio on a free UDP port of `ip` and wait until it answers
    /// OPTIONS.
    pub fn start(ip: IpAddr) -> Kamailio {
        Kamailio::with_cfg(&package_file("kamailio/upstream.cfg"), ip, ["LISTEN_IP", "LISTEN_PORT"], &[])
    }

    /// Start Kamailio with `cfg` on a free port of `ip` (UDP and TCP; given
    /// as the defines named in `listen`: address, port) and the other
    /// `defines`, and wait until it answers OPTIONS.
    pub fn with_cfg(cfg: &std::path::Path, ip: IpAddr, listen: [&str; 2], defines: &[(&str, String)]) -> Kamailio {
        let kamailio = require_tool("kamailio");
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let run = dir.path().join("run");
        std::fs::create_dir(&run).expect("create the runtime directory");
        let addr = SocketAddr::new(ip, free_port_on(ip));
        let log = dir.path().join("kamailio.log");
        let log_file = std::fs::File::create(&log).expect("create the log file");
        let mut command = Command::new(kamailio);
        command
            .args(["-DD", "-E", "-m", "64", "-M", "8"])
            .arg("-f")
            .arg(cfg)
            .arg("-P")
            .arg(run.join("kamailio.pid"))
            .arg("-Y")
            .arg(&run)
            .args(["-A", &format!("{}={ip}", listen[0]), "-A", &format!("{}={}", listen[1], addr.port())])
            .args(defines.iter().flat_map(|(name, value)| ["-A".to_string(), format!("{name}={value}")]))
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("clone a file handle"))
            .stderr(log_file);
        let mut process = Guard::spawn("kamailio", command);
        let options = || sip::udp_exchange(addr, sip::options_to(addr, "UDP"));
        let up = wait_until(Duration::from_secs(20), || {
            process.exited().is_none() && options().is_ok_and(|r| r.status() == Some(200))
        });
        let kamailio = Kamailio { addr, log, process, dir };
        assert!(up, "Kamailio did not answer OPTIONS on {addr} within 20 s; its log:\n{}", tail(&kamailio.log(), 40));
        kamailio
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn is_running(&mut self) -> bool {
        self.process.exited().is_none()
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- kamailio log ({}), last 40 lines ---\n{}", self.log.display(), tail(&self.log(), 400));
        }
    }
}
