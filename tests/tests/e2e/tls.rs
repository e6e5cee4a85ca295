//! Mutual TLS between the uplink and a real mosquitto, with certificates made in the test:
//! the right CA and client certificate deliver; a wrong CA, a missing client certificate and
//! a key file others can read each fail with a clear error.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use ects_e2e::{Mosquitto, bin, scratch};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};

struct Pki {
    dir: PathBuf,
}

impl Pki {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

fn make_ca(cn: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, cn);
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

fn write_key(path: &Path, pem: &str) {
    std::fs::write(path, pem).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// A CA, a broker certificate for localhost/127.0.0.1, a gateway client certificate, and a
/// second, unrelated CA.
fn pki() -> Pki {
    let dir = std::env::temp_dir().join(format!("ects-e2e-pki-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let ca = make_ca("ECTS test customs CA");
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(dir.join("other-ca.pem"), make_ca("Some other CA").pem()).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&server_key, &ca)
        .unwrap();
    std::fs::write(dir.join("broker.pem"), server.pem()).unwrap();
    write_key(&dir.join("broker.key"), &server_key.serialize_pem());
    let client_key = KeyPair::generate().unwrap();
    let mut client = CertificateParams::new(Vec::<String>::new()).unwrap();
    client
        .distinguished_name
        .push(DnType::CommonName, "e2e-tls-gw");
    let client = client.signed_by(&client_key, &ca).unwrap();
    std::fs::write(dir.join("gw.pem"), client.pem()).unwrap();
    write_key(&dir.join("gw.key"), &client_key.serialize_pem());
    Pki { dir }
}

fn broker(pki: &Pki) -> Mosquitto {
    Mosquitto::start_with(
        "tls",
        &format!(
            "cafile {}\ncertfile {}\nkeyfile {}\nrequire_certificate true",
            pki.path("ca.pem").display(),
            pki.path("broker.pem").display(),
            pki.path("broker.key").display()
        ),
    )
}

fn journal(name: &str) -> PathBuf {
    let dir = scratch(&format!("tls-{name}"));
    let out = Command::new(bin("ects-gateway"))
        .args(["journal", "soak", "--count", "50", "--dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(out.status.success());
    dir
}

fn drain_args(dir: &Path, port: u16, tls: &[String]) -> Command {
    let mut cmd = Command::new(bin("ects-gateway"));
    cmd.args(["journal", "drain", "--gateway", "e2e-tls-gw", "--broker"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--dir")
        .arg(dir)
        .args(tls);
    cmd
}

/// Runs a drain that cannot connect for a few seconds and returns what it logged.
fn failing_drain(dir: &Path, port: u16, tls: &[String]) -> String {
    let mut child = drain_args(dir, port, tls)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn s(p: PathBuf) -> String {
    p.display().to_string()
}

#[test]
fn mutual_tls_delivers_and_misconfigurations_fail_clearly() {
    let pki = pki();
    let broker = broker(&pki);
    let tls = |ca: &str, client: bool| -> Vec<String> {
        let mut v = vec![
            "--tls-ca".to_string(),
            s(pki.path(ca)),
            "--tls-server-name".into(),
            "localhost".into(),
        ];
        if client {
            v.extend([
                "--tls-cert".to_string(),
                s(pki.path("gw.pem")),
                "--tls-key".into(),
                s(pki.path("gw.key")),
            ]);
        }
        v
    };

    // The right CA and client certificate: everything is delivered and acknowledged.
    let dir = journal("ok");
    let out = drain_args(&dir, broker.port, &tls("ca.pem", true))
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(report.contains("drain: 50 acknowledged"), "{report}");

    // A CA that did not sign the broker's certificate: refused by the gateway, and said so.
    let log = failing_drain(
        &journal("wrong-ca"),
        broker.port,
        &tls("other-ca.pem", true),
    );
    assert!(
        log.contains("cannot connect to the broker") && log.contains("not signed by the CA given"),
        "{log}"
    );

    // No client certificate: the broker refuses the handshake, and the log says TLS.
    let log = failing_drain(&journal("no-cert"), broker.port, &tls("ca.pem", false));
    assert!(
        log.contains("cannot connect to the broker")
            && log.contains("requires a client certificate"),
        "{log}"
    );

    // A key file others can read: refused before connecting, naming the file.
    std::fs::set_permissions(pki.path("gw.key"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = drain_args(&journal("perm"), broker.port, &tls("ca.pem", true))
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        log.contains(&format!(
            "{}: private key is readable by group or others",
            pki.path("gw.key").display()
        )),
        "{log}"
    );
    assert!(log.contains("chmod 600"), "{log}");

    for name in ["ok", "wrong-ca", "no-cert", "perm"] {
        let _ = std::fs::remove_dir_all(
            std::env::temp_dir().join(format!("ects-e2e-tls-{name}-{}", std::process::id())),
        );
    }
    let _ = std::fs::remove_dir_all(&pki.dir);
}
