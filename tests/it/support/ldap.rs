//! A private OpenLDAP `slapd` for a test: its own `slapd.conf` (given with
//! `-f`), data loaded with `slapadd`, a loopback port. The system's
//! `/etc/ldap` service is never touched.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::missing_peer;
use super::peers::free_port;

pub const BASE: &str = "dc=example,dc=com";
pub const ROOT_DN: &str = "cn=admin,dc=example,dc=com";
pub const ROOT_PW: &str = "slapd-root-secret";

pub struct Slapd {
    pub url: String,
    /// The same directory over TLS from the first byte.
    pub ldaps_url: String,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

/// A private CA and a certificate for 127.0.0.1 that it signed, made with
/// the openssl command line: `(ca.pem, server.pem, server.key)` in `d`.
fn certificates(d: &Path) {
    std::fs::write(
        d.join("ca.cnf"),
        "[req]\ndistinguished_name = dn\nx509_extensions = v3_ca\nprompt = no\n\
         [dn]\nCN = Docket test CA\n[v3_ca]\nbasicConstraints = critical,CA:TRUE\n\
         keyUsage = critical,keyCertSign,cRLSign\nsubjectKeyIdentifier = hash\n",
    )
    .expect("ca.cnf");
    std::fs::write(
        d.join("server.ext"),
        "subjectAltName = IP:127.0.0.1\nbasicConstraints = CA:FALSE\n\
         keyUsage = digitalSignature\nextendedKeyUsage = serverAuth\n",
    )
    .expect("server.ext");
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let steps: [Vec<&str>; 3] = [
        [
            &["req", "-x509", "-config", "ca.cnf", "-days", "2"][..],
            &ec[..],
            &["-keyout", "ca.key", "-out", "ca.pem"],
        ]
        .concat(),
        [
            &["req", "-subj", "/CN=127.0.0.1"][..],
            &ec[..],
            &["-keyout", "server.key", "-out", "server.csr"],
        ]
        .concat(),
        vec![
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "server.ext",
            "-out",
            "server.pem",
        ],
    ];
    for args in steps {
        let out = Command::new("openssl")
            .args(&args)
            .current_dir(d)
            .output()
            .expect("openssl (apt-get install openssl)");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Slapd {
    /// `None` (after reporting the missing peer) without slapd installed.
    pub async fn start(ldif: &str) -> Option<Slapd> {
        for bin in [
            "/usr/sbin/slapd",
            "/usr/sbin/slapadd",
            "/usr/bin/ldapmodify",
        ] {
            if !Path::new(bin).exists() {
                missing_peer(
                    "OpenLDAP",
                    &format!("{bin} not installed (apt-get install slapd ldap-utils)"),
                );
                return None;
            }
        }
        let dir = tempfile::tempdir().expect("dir");
        let d = dir.path();
        std::fs::create_dir_all(d.join("db")).expect("db dir");
        certificates(d);
        let conf = format!(
            "include /etc/ldap/schema/core.schema\ninclude /etc/ldap/schema/cosine.schema\n\
             include /etc/ldap/schema/inetorgperson.schema\nmodulepath /usr/lib/ldap\n\
             moduleload back_mdb\npidfile {d}/slapd.pid\n\
             TLSCACertificateFile {d}/ca.pem\nTLSCertificateFile {d}/server.pem\n\
             TLSCertificateKeyFile {d}/server.key\n\
             database mdb\nsuffix \"{BASE}\"\n\
             rootdn \"{ROOT_DN}\"\nrootpw {ROOT_PW}\ndirectory {d}/db\nmaxsize 10485760\n",
            d = d.display()
        );
        std::fs::write(d.join("slapd.conf"), conf).expect("conf");
        std::fs::write(d.join("data.ldif"), ldif).expect("ldif");
        let out = Command::new("/usr/sbin/slapadd")
            .arg("-f")
            .arg(d.join("slapd.conf"))
            .arg("-l")
            .arg(d.join("data.ldif"))
            .output()
            .expect("slapadd");
        assert!(
            out.status.success(),
            "slapadd: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (port, tls_port) = (free_port(), free_port());
        let mut s = Slapd {
            url: format!("ldap://127.0.0.1:{port}"),
            ldaps_url: format!("ldaps://127.0.0.1:{tls_port}"),
            child: None,
            dir,
        };
        s.run(port).await;
        Some(s)
    }

    /// The PEM of the CA that signed the directory's certificate.
    pub fn ca_file(&self) -> std::path::PathBuf {
        self.dir.path().join("ca.pem")
    }

    async fn run(&mut self, port: u16) {
        let child = Command::new("/usr/sbin/slapd")
            .arg("-f")
            .arg(self.dir.path().join("slapd.conf"))
            .arg("-h")
            .arg(format!("{}/ {}/", self.url, self.ldaps_url))
            .args(["-d", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("slapd");
        self.child = Some(child);
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("slapd did not listen on {port}");
    }

    /// Applies an LDIF change as the directory's root.
    pub fn modify(&self, ldif: &str) {
        use std::io::Write;
        let mut child = Command::new("/usr/bin/ldapmodify")
            .args(["-x", "-H", &self.url, "-D", ROOT_DN, "-w", ROOT_PW])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("ldapmodify");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(ldif.as_bytes())
            .expect("write");
        assert!(child.wait().expect("wait").success(), "ldapmodify failed");
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        self.stop();
    }
}
