//! A real DNS server for the ENUM tests: dnsmasq on a free loopback port,
//! serving the NAPTR records a test gives it. Included by the ENUM unit
//! tests (`host/src/capability/enum_directory.rs`) and by
//! `policy_lookup_guard_enum.rs`, so both start it the same way.

use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// dnsmasq on a free loopback port serving these NAPTR records (and
/// NXDOMAIN for the rest of e164.arpa); killed when dropped.
pub struct Dnsmasq {
    child: Child,
    pub address: SocketAddr,
}

impl Dnsmasq {
    pub fn start(records: &[&str]) -> Dnsmasq {
        let binary = ["/usr/sbin/dnsmasq", "/usr/bin/dnsmasq"]
            .into_iter()
            .find(|path| Path::new(path).exists())
            .expect("this test needs dnsmasq: apt-get install -y dnsmasq");
        let port = UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut command = Command::new(binary);
        command.args([
            "--no-daemon".to_string(),
            format!("--port={port}"),
            "--listen-address=127.0.0.1".into(),
            "--bind-interfaces".into(),
            "--no-resolv".into(),
            "--no-hosts".into(),
            "--conf-file=/dev/null".into(),
            "--pid-file=".into(),
            "--user=root".into(),
            "--local=/e164.arpa/".into(),
        ]);
        command.args(records.iter().map(|record| format!("--naptr-record={record}")));
        let child = command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let mut dnsmasq = Dnsmasq { child, address };
        let started = Instant::now();
        while TcpStream::connect(address).is_err() {
            if let Ok(Some(status)) = dnsmasq.child.try_wait() {
                panic!("dnsmasq exited at start: {status}");
            }
            assert!(started.elapsed() < Duration::from_secs(5), "dnsmasq did not start listening");
            std::thread::sleep(Duration::from_millis(20));
        }
        dnsmasq
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
