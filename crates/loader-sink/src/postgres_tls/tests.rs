use super::*;

#[test]
fn tls_parameters_leave_the_url_and_keep_libpq_meanings() {
    let (url, tls) = split_tls(
        "postgres://u@h/db?sslmode=verify-full&connect_timeout=5&sslrootcert=%2Fetc%2Fca.pem",
    )
    .unwrap();
    assert_eq!(url, "postgres://u@h/db?connect_timeout=5");
    assert_eq!(tls.mode, TlsMode::VerifyFull);
    assert_eq!(tls.root_cert, Some(PathBuf::from("/etc/ca.pem")));
    let (url, tls) = split_tls("postgres://u@h/db?sslmode=require").unwrap();
    assert_eq!(
        (url.as_str(), tls.mode),
        ("postgres://u@h/db", TlsMode::Require)
    );
    assert_eq!(TlsMode::parse("allow"), Some(TlsMode::Prefer));
    let wrong = split_tls("postgres://u@h/db?sslmode=on").unwrap_err();
    assert!(wrong.contains("sslmode=on is not one of"), "{wrong}");
}

#[test]
fn verifying_modes_need_certificates_to_trust() {
    let settings = |mode, root_cert| TlsSettings {
        mode,
        root_cert,
        ..TlsSettings::default()
    };
    let home = std::env::var_os("HOME").map(PathBuf::from);
    if home.is_some_and(|h| h.join(".postgresql/root.crt").exists()) {
        return;
    }
    let missing = connector(&settings(TlsMode::VerifyFull, None))
        .err()
        .unwrap();
    assert!(missing.contains("sslrootcert=FILE"), "{missing}");
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").unwrap();
    let none = connector(&settings(TlsMode::VerifyCa, Some(empty)))
        .err()
        .unwrap();
    assert!(none.contains("no certificate in it"), "{none}");
    assert!(connector(&settings(TlsMode::Require, None)).is_ok());
}

#[test]
fn client_certificate_parameters_are_taken_out_of_the_url() {
    let (url, tls) = split_tls(
        "postgres://u@h/db?sslcert=%2Fk%2Fc.pem&application_name=x&sslkey=/k/c.key&sslmode=require",
    )
    .unwrap();
    assert_eq!(url, "postgres://u@h/db?application_name=x");
    assert_eq!(tls.client_cert, Some(PathBuf::from("/k/c.pem")));
    assert_eq!(tls.client_key, Some(PathBuf::from("/k/c.key")));
    let (url, tls) = split_tls("postgres://u@h/db?sslkey=/k/c.key&sslpassword=s%40cret").unwrap();
    assert_eq!(url, "postgres://u@h/db");
    assert_eq!(tls.client_key_password, Some(Password("s@cret".into())));
    assert!(!format!("{tls:?}").contains("cret"), "{tls:?}");
}

/// A certificate authority, a server certificate for `localhost` and a client certificate,
/// all signed by it, made by the `openssl` command; `None` (with a notice) where it is
/// missing, outside CI.
#[expect(clippy::print_stdout, reason = "a test says what it could not check")]
fn certificates(dir: &std::path::Path) -> Option<()> {
    let openssl = |args: &[&str]| {
        std::process::Command::new("openssl")
            .current_dir(dir)
            .args(args)
            .output()
    };
    if openssl(&["version"]).is_err() {
        assert!(
            std::env::var("CI").is_err(),
            "CI needs the openssl command for the client certificate test"
        );
        println!("no openssl command: the client certificate handshake is not checked");
        return None;
    }
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let run = |args: &[&str]| {
        let output = openssl(args).unwrap();
        assert!(
            output.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    run(&[
        &["req", "-x509"][..],
        &ec,
        &["-keyout", "ca.key", "-out", "ca.crt"],
    ]
    .concat()
    .into_iter()
    .chain(["-subj", "/CN=loader test CA", "-days", "1"])
    .collect::<Vec<_>>());
    for (name, subject, extensions) in [
        (
            "server",
            "/CN=localhost",
            "subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n",
        ),
        ("client", "/CN=loader", "extendedKeyUsage=clientAuth\n"),
    ] {
        let (key, csr, crt, ext) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.crt"),
            format!("{name}.ext"),
        );
        std::fs::write(dir.join(&ext), extensions).unwrap();
        let request = [
            &["req"][..],
            &ec,
            &["-keyout", &key, "-out", &csr, "-subj", subject],
        ];
        run(&request.concat());
        run(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &crt,
            "-days",
            "1",
            "-extfile",
            &ext,
        ]);
    }
    Some(())
}

/// One connection's start as a PostgreSQL server that wants TLS with a client certificate
/// signed by `ca.crt` takes it: the SSLRequest, `S`, the handshake. The certificates the
/// client presented, or why the handshake failed.
async fn one_handshake(
    listener: tokio::net::TcpListener,
    dir: &std::path::Path,
) -> Result<Vec<CertificateDer<'static>>, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(dir.join("ca.crt")).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let clients = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        Arc::clone(&provider),
    )
    .build()
    .unwrap();
    let chain = CertificateDer::pem_file_iter(dir.join("server.crt"))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(clients)
        .with_single_cert(chain, key)
        .unwrap();
    let (mut stream, _) = listener.accept().await.map_err(|e| e.to_string())?;
    let mut request = [0u8; 8];
    stream
        .read_exact(&mut request)
        .await
        .map_err(|e| e.to_string())?;
    // Length 8, then the SSLRequest code 80877103.
    assert_eq!(request, [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);
    stream.write_all(b"S").await.map_err(|e| e.to_string())?;
    let tls = tokio_rustls::TlsAcceptor::from(Arc::new(config))
        .accept(stream)
        .await
        .map_err(|e| e.to_string())?;
    let presented = tls.get_ref().1.peer_certificates().unwrap_or_default();
    Ok(presented.iter().map(|c| c.clone().into_owned()).collect())
}

/// What a server asking for a client certificate saw when loader connected with `params`.
fn server_saw(dir: &std::path::Path, params: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (url, settings) = split_tls(&format!(
            // verify-full checks the name the certificate was made for.
            "postgres://loader@localhost:{port}/db?hostaddr=127.0.0.1&sslmode=verify-full\
             &sslrootcert={}{params}",
            dir.join("ca.crt").display()
        ))
        .unwrap();
        let tls = connector(&settings).unwrap();
        let mut config: tokio_postgres::Config = url.parse().unwrap();
        config.ssl_mode(settings.mode.ssl_mode());
        let both = async { tokio::join!(one_handshake(listener, dir), config.connect(tls)) };
        let (server, _client) = tokio::time::timeout(std::time::Duration::from_secs(30), both)
            .await
            .expect("the handshake ends");
        server
    })
}

#[test]
fn a_client_certificate_is_presented_to_a_server_that_asks() {
    let dir = tempfile::tempdir().unwrap();
    if certificates(dir.path()).is_none() {
        return;
    }
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let has_default = home.is_some_and(|h| h.join(".postgresql/postgresql.crt").exists());
    let ours = CertificateDer::from_pem_file(dir.path().join("client.crt")).unwrap();
    let params = format!(
        "&sslcert={}&sslkey={}",
        dir.path().join("client.crt").display(),
        dir.path().join("client.key").display()
    );
    let presented = server_saw(dir.path(), &params).unwrap();
    assert_eq!(presented, [ours]);
    if !has_default {
        let refused = server_saw(dir.path(), "").unwrap_err();
        assert!(refused.to_lowercase().contains("certificate"), "{refused}");
        // The key is wanted with the certificate, and must be a key.
        let settings = |cert: &str, key: Option<&str>| TlsSettings {
            client_cert: Some(dir.path().join(cert)),
            client_key: key.map(|k| dir.path().join(k)),
            ..TlsSettings::default()
        };
        let no_key = connector(&settings("client.crt", None)).err().unwrap();
        assert!(no_key.contains("needs its private key"), "{no_key}");
        let not_key = connector(&settings("client.crt", Some("client.crt")))
            .err()
            .unwrap();
        assert!(not_key.starts_with("sslkey "), "{not_key}");
        let not_cert = connector(&settings("client.key", Some("client.key")))
            .err()
            .unwrap();
        assert!(not_cert.contains("no certificate in it"), "{not_cert}");
    }
}

/// A client key encrypted with a password (PKCS#8, as `openssl pkcs8 -topk8 -v2` and
/// `openssl genpkey -aes256` write it) is presented with `sslpassword`; without it, or with
/// a wrong one, the error says so and shows no password.
#[test]
fn an_encrypted_client_key_is_read_with_sslpassword() {
    let dir = tempfile::tempdir().unwrap();
    if certificates(dir.path()).is_none() {
        return;
    }
    let encrypt = std::process::Command::new("openssl")
        .current_dir(dir.path())
        .args([
            "pkcs8",
            "-topk8",
            "-v2",
            "aes-256-cbc",
            "-passout",
            "pass:s3cr3t!",
            "-in",
            "client.key",
            "-out",
            "client.enc.key",
        ])
        .output()
        .unwrap();
    assert!(
        encrypt.status.success(),
        "{}",
        String::from_utf8_lossy(&encrypt.stderr)
    );
    let ours = CertificateDer::from_pem_file(dir.path().join("client.crt")).unwrap();
    let params = |password: &str| {
        format!(
            "&sslcert={}&sslkey={}{password}",
            dir.path().join("client.crt").display(),
            dir.path().join("client.enc.key").display()
        )
    };
    let presented = server_saw(dir.path(), &params("&sslpassword=s3cr3t%21")).unwrap();
    assert_eq!(presented, [ours]);
    let settings = |password: Option<&str>| TlsSettings {
        client_cert: Some(dir.path().join("client.crt")),
        client_key: Some(dir.path().join("client.enc.key")),
        client_key_password: password.map(|p| Password(p.into())),
        ..TlsSettings::default()
    };
    let none = connector(&settings(None)).err().unwrap();
    assert!(
        none.contains("is encrypted: give its password as sslpassword="),
        "{none}"
    );
    let wrong = connector(&settings(Some("guess"))).err().unwrap();
    assert!(wrong.contains("sslpassword does not decrypt it"), "{wrong}");
    assert!(!wrong.contains("guess"), "{wrong}");
    // OpenSSL's legacy encrypted form is named, with the command that converts it.
    let legacy = dir.path().join("legacy.key");
    std::fs::write(
        &legacy,
        "-----BEGIN EC PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,00\n\nAA==\n-----END EC PRIVATE KEY-----\n",
    )
    .unwrap();
    let error = private_key(&legacy, None).err().unwrap();
    assert!(
        error.contains("`openssl pkcs8 -topk8 -v2 aes-256-cbc"),
        "{error}"
    );
}
