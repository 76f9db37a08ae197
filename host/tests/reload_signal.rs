//! SIGHUP reloads the plugins and the capability stores. In a test binary of
//! its own: the signal goes to the whole process, and would reload every
//! other test's server at a moment of its choosing.

mod common;

use std::time::{Duration, Instant};

use sipwarden::capability::{Algorithm, ha1};
use sipwarden::config::Config;
use sipwarden::server::Server;
use sipwarden::transport::Transport;
use tokio::net::UdpSocket;

fn numbers(number: &str, user: &str) -> String {
    format!("[numbers]\n\"{number}\" = [\"sip:{user}@example.com\"]\n")
}

fn credentials(user: &str, password: &str) -> String {
    let hash = ha1(Algorithm::Sha256, user, "example.com", password);
    format!("[[user]]\nusername = \"{user}\"\nrealm = \"example.com\"\nha1-sha256 = \"{hash}\"\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_plugins_and_stores() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    std::fs::copy(common::wasm("block-scanners"), plugins.join("gate.wasm")).unwrap();
    std::fs::write(plugins.join("gate.toml"), "capabilities = []\n[config]\nreason = \"Gate v1\"\n").unwrap();
    std::fs::write(dir.path().join("numbers.toml"), numbers("+15550001", "alice")).unwrap();
    std::fs::write(dir.path().join("users.toml"), credentials("alice", "one")).unwrap();
    let path = dir.path().join("sipwarden.toml");
    std::fs::write(
        &path,
        "[plugins]\ndir = \"plugins\"\nwatch = false\n[listen]\nudp = [\"127.0.0.1:0\"]\n\
         [directory]\nfile = \"numbers.toml\"\n[credentials]\nfile = \"users.toml\"\n",
    )
    .unwrap();
    let server = Server::start(&Config::load(&path).unwrap()).await.unwrap();
    let sip = server.transport.local_addr(Transport::Udp).unwrap();
    let reloader = server.reloader.clone();
    let engine = server.engine.clone();
    let task = tokio::spawn(server.run());

    std::fs::write(plugins.join("gate.toml"), "capabilities = []\n[config]\nreason = \"Gate v2\"\n").unwrap();
    std::fs::write(dir.path().join("numbers.toml"), numbers("+15550002", "bob")).unwrap();
    std::fs::write(dir.path().join("users.toml"), "this is = not [ a credentials file").unwrap();
    let status = std::process::Command::new("kill").arg("-HUP").arg(std::process::id().to_string()).status().unwrap();
    assert!(status.success());

    let ua = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = ua.local_addr().unwrap().port();
    let deadline = Instant::now() + Duration::from_secs(3);
    for n in 0.. {
        let scan = format!(
            "OPTIONS sip:x@elsewhere.example SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKhup{n};rport\r\n\
             Max-Forwards: 70\r\nFrom: <sip:a@example.com>;tag=h\r\nTo: <sip:x@elsewhere.example>\r\n\
             Call-ID: hup{n}@test\r\nCSeq: 1 OPTIONS\r\nUser-Agent: sipvicious\r\nContent-Length: 0\r\n\r\n"
        );
        ua.send_to(scan.as_bytes(), sip).await.unwrap();
        let mut buf = vec![0; 65_535];
        let (len, _) = tokio::time::timeout(Duration::from_secs(3), ua.recv_from(&mut buf)).await.unwrap().unwrap();
        let reply = String::from_utf8_lossy(&buf[..len]).into_owned();
        if reply.starts_with("SIP/2.0 403 Gate v2\r\n") {
            break;
        }
        assert!(reply.starts_with("SIP/2.0 403 Gate v1\r\n"), "{reply}");
        assert!(Instant::now() < deadline, "SIGHUP reloads the plugin");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The stores come after the plugins in a reload: wait for it to end.
    let deadline = Instant::now() + Duration::from_secs(3);
    while reloader.stats().credentials_failures == 0 {
        assert!(Instant::now() < deadline, "the reload reaches the stores");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stats = reloader.stats();
    assert_eq!(stats.reloads, [0, 1, 0], "one reload, by the signal");
    // The directory was re-read; the broken credentials file was refused
    // (the previous store stays in use).
    assert_eq!((stats.directory_failures, stats.credentials_failures), (0, 1), "{stats:?}");
    let directory = engine.capabilities().directory();
    assert_eq!(directory.lookup("+15550002").unwrap(), vec!["sip:bob@example.com".to_string()]);
    assert!(directory.lookup("+15550001").unwrap().is_empty());
    task.abort();
}
