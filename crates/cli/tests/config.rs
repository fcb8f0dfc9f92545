//! Configuration reaches the server from every layer: `BERTH_*` environment variables
//! alone start it where they say, a config file supplies what the environment does not,
//! a flag beats the environment, and a config file with an unknown key stops the server
//! at start with a message naming the key.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn berth(envs: &[(&str, String)], args: &[String]) -> Running {
    let child = Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("serve")
        .args(args)
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn berth");
    Running(child)
}

fn answers(addr: std::net::SocketAddr) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn environment_and_file_configure_the_server_and_flags_win() {
    let tmp = tempfile::tempdir().unwrap();
    let from_env = tmp.path().join("env-data");
    let from_file = support::free_addr();
    let config = tmp.path().join("berth.toml");
    std::fs::write(
        &config,
        format!("listen = \"{from_file}\"\nupload_ttl = 60\n"),
    )
    .unwrap();

    let _server = berth(
        &[
            ("BERTH_DATA_DIR", from_env.display().to_string()),
            ("BERTH_CONFIG", config.display().to_string()),
        ],
        &[],
    );
    assert!(answers(from_file), "no server on the config file's address");
    assert!(
        from_env.join("berth.db").exists(),
        "data dir from BERTH_DATA_DIR unused"
    );

    let from_flag = support::free_addr();
    let from_env_addr = support::free_addr();
    let _server = berth(
        &[
            (
                "BERTH_DATA_DIR",
                tmp.path().join("second").display().to_string(),
            ),
            ("BERTH_LISTEN", from_env_addr.to_string()),
        ],
        &["--listen".to_string(), from_flag.to_string()],
    );
    assert!(answers(from_flag), "the --listen flag did not win");
    assert!(std::net::TcpStream::connect(from_env_addr).is_err());
}

#[test]
fn an_unknown_config_key_stops_the_server_with_its_name() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("berth.toml");
    std::fs::write(&config, "data_dirr = \"/tmp/x\"\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .output()
        .expect("berth runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("data_dirr"), "{stderr}");
    assert!(stderr.contains("berth.toml"), "{stderr}");
}
