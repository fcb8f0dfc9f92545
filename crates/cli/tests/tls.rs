//! HTTPS: with a certificate and key, berth serves the API over TLS (rustls), and a real
//! client that trusts the certificate talks to it; a half-configured TLS setup refuses to
//! start with a message naming what is missing.

mod support;

use std::process::Command;

use support::Server;

fn self_signed(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl runs");
    assert!(
        status.status.success(),
        "openssl failed: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    (cert, key)
}

#[test]
fn serves_the_api_over_tls() {
    let tmp = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(tmp.path());
    let data = tmp.path().join("data");
    let server = Server::start_in(
        &data,
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    assert!(server.base.starts_with("https://"));

    let (user, password) = server.credentials().expect("authentication is on");
    let output = Command::new("curl")
        .args(["-sS", "-i", "-u", &format!("{user}:{password}"), "--cacert"])
        .arg(&cert)
        .arg(format!("{}/v2/", server.base))
        .output()
        .expect("curl runs");
    let response = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "curl failed: {}\n{}",
        String::from_utf8_lossy(&output.stderr),
        server.log()
    );
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response
            .to_ascii_lowercase()
            .contains("docker-distribution-api-version: registry/2.0"),
        "{response}"
    );

    let plain = Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(format!("http://{}/v2/", server.addr))
        .output()
        .expect("curl runs");
    assert_ne!(String::from_utf8_lossy(&plain.stdout), "200");
}

#[test]
fn a_certificate_without_a_key_is_refused_at_start() {
    let tmp = tempfile::tempdir().unwrap();
    let (cert, _) = self_signed(tmp.path());
    let output = Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("serve")
        .arg("--data-dir")
        .arg(tmp.path().join("data"))
        .arg("--listen")
        .arg(support::free_addr().to_string())
        .arg("--tls-cert")
        .arg(&cert)
        .output()
        .expect("berth runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--tls-key"), "{stderr}");
}
