//! The S3 backend (`cluster::backend`) against a real S3 server that is not ours: `moto_server`
//! (moto 5.2.6, installed into `.venv` by scripts/test.sh; `AIS_TEST_VENV` points elsewhere),
//! started in the mode that checks SigV4 signatures and IAM credentials
//! (`INITIAL_NO_AUTH_ACTION_COUNT`), so every request we sign is verified by an independent
//! implementation. Plus scripted misbehaving servers for what moto cannot do: silence, a body
//! cut short, chunked framing.
//!
//! Every process started here is stopped by PID (a Drop guard); nothing sleeps to synchronize.

use cluster::backend::{BackendError, RemoteBody, RemoteSource, S3Backend, S3Config};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BUCKET: &str = "ais-remote";
/// IAM actions moto lets through unauthenticated: create user, access key, user policy.
const MOTO_BOOTSTRAP_ACTIONS: u32 = 3;
const MOTO_START_TIMEOUT_MS: u64 = 20_000;

fn venv() -> PathBuf {
    match std::env::var_os("AIS_TEST_VENV") {
        Some(v) => PathBuf::from(v),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("cluster sits in the workspace root")
            .join(".venv"),
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A moto server, killed and reaped on drop.
struct Moto {
    child: Child,
    endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Credentials moto's IAM made for us, and temporary ones from STS (AssumeRole: moto does not
/// accept GetSessionToken's fixed example keys when it checks credentials).
struct Creds {
    access_key: String,
    secret_key: String,
    tmp_access_key: String,
    tmp_secret_key: String,
    tmp_token: String,
}

const SETUP_PY: &str = r#"
import boto3, json, sys
ep = sys.argv[1]
kw = dict(endpoint_url=ep, region_name="us-east-1")
iam = boto3.client("iam", aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap", **kw)
iam.create_user(UserName="ais")
key = iam.create_access_key(UserName="ais")["AccessKey"]
iam.put_user_policy(UserName="ais", PolicyName="all", PolicyDocument=json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
ak, sk = key["AccessKeyId"], key["SecretAccessKey"]
s3 = boto3.client("s3", aws_access_key_id=ak, aws_secret_access_key=sk, **kw)
s3.create_bucket(Bucket=sys.argv[2])
iam = boto3.client("iam", aws_access_key_id=ak, aws_secret_access_key=sk, **kw)
trust = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]}
role = iam.create_role(RoleName="ais", AssumeRolePolicyDocument=json.dumps(trust))["Role"]
iam.put_role_policy(RoleName="ais", PolicyName="all", PolicyDocument=json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
sts = boto3.client("sts", aws_access_key_id=ak, aws_secret_access_key=sk, **kw)
tmp = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="ais")["Credentials"]
print(json.dumps([ak, sk, tmp["AccessKeyId"], tmp["SecretAccessKey"], tmp["SessionToken"]]))
"#;

fn start_moto() -> (Moto, Creds) {
    let bin = venv().join("bin").join("moto_server");
    assert!(
        bin.exists(),
        "{} is missing: run scripts/test.sh (it installs moto[server] into .venv) or set \
         AIS_TEST_VENV to a virtualenv with moto[server]==5.2.6",
        bin.display()
    );
    let port = free_port();
    let child = Command::new(&bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .env(
            "INITIAL_NO_AUTH_ACTION_COUNT",
            MOTO_BOOTSTRAP_ACTIONS.to_string(),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
    let moto = Moto {
        child,
        endpoint: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_millis(MOTO_START_TIMEOUT_MS);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "moto_server did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(20)); // polling a child process, not syncing
    }
    let out = Command::new(venv().join("bin").join("python"))
        .args(["-c", SETUP_PY, &moto.endpoint, BUCKET])
        .output()
        .expect("run the venv's python");
    assert!(
        out.status.success(),
        "moto setup failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Vec<String> = serde_json::from_slice(&out.stdout).expect("setup prints JSON");
    let creds = Creds {
        access_key: v[0].clone(),
        secret_key: v[1].clone(),
        tmp_access_key: v[2].clone(),
        tmp_secret_key: v[3].clone(),
        tmp_token: v[4].clone(),
    };
    (moto, creds)
}

fn run<F: std::future::Future<Output = ()>>(f: F) {
    glommio::LocalExecutorBuilder::default()
        .make()
        .expect("executor")
        .run(f);
}

/// A source that hands out at most `piece` bytes per read.
struct Pieces {
    data: Vec<u8>,
    at: usize,
    piece: usize,
    reads: usize,
}

impl RemoteSource for Pieces {
    async fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.piece).min(self.data.len() - self.at);
        buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
        self.at += n;
        self.reads += 1;
        Ok(n)
    }
}

async fn read_all(body: &mut RemoteBody) -> Result<Vec<u8>, BackendError> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 100_000];
    loop {
        let n = body.read(&mut buf).await?;
        if n == 0 {
            return Ok(out);
        }
        out.extend_from_slice(&buf[..n]);
    }
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

fn assert_err(
    r: Result<impl std::fmt::Debug, BackendError>,
    status: u16,
    code: &str,
) -> BackendError {
    let e = r.expect_err("must fail");
    assert_eq!((e.status, e.code.as_str()), (status, code), "{e}");
    e
}

#[test]
fn moto_put_head_get_range_list_delete_and_errors() {
    let (moto, creds) = start_moto();
    let endpoint = moto.endpoint.clone();
    run(async move {
        let cfg = S3Config::for_endpoint(&endpoint)
            .with_credentials(&creds.access_key, &creds.secret_key);
        let s3 = S3Backend::new(cfg.clone());
        s3.head_bucket(BUCKET).await.unwrap();
        assert!(s3
            .list_buckets()
            .await
            .unwrap()
            .contains(&BUCKET.to_owned()));

        // PUT 5 MiB streamed in 300 KiB pieces.
        let data = pattern(5 * 1024 * 1024 + 17);
        let mut src = Pieces {
            data: data.clone(),
            at: 0,
            piece: 300 * 1024,
            reads: 0,
        };
        let put = s3
            .put_object(BUCKET, "dir/big obj+1", data.len() as u64, &mut src)
            .await
            .unwrap();
        assert!(src.reads > 10, "streamed in pieces");
        assert_eq!(put.size, data.len() as u64);
        let md5 = engine::cksum::compute(engine::cksum::CksumType::Md5, &data);
        assert_eq!(put.etag, md5);

        let h = s3.head_object(BUCKET, "dir/big obj+1").await.unwrap();
        assert_eq!((h.size, h.etag.as_str()), (data.len() as u64, md5.as_str()));
        assert!(h.last_modified_ns > 1_600_000_000_000_000_000, "{h:?}");

        let (a, mut body) = s3.get_object(BUCKET, "dir/big obj+1", None).await.unwrap();
        assert_eq!(a.size, data.len() as u64);
        assert_eq!(body.remaining(), Some(data.len() as u64));
        let got = read_all(&mut body).await.unwrap();
        assert!(got == data, "GET returns the bytes PUT");
        assert_eq!(body.remaining(), Some(0));

        let (a, mut body) = s3
            .get_object(BUCKET, "dir/big obj+1", Some((1000, 1999)))
            .await
            .unwrap();
        assert_eq!(a.size, data.len() as u64, "the whole object's size");
        assert_eq!(body.remaining(), Some(1000));
        assert_eq!(read_all(&mut body).await.unwrap(), &data[1000..2000]);

        // A few small objects, then a listing in pages of 2.
        for k in ["a/1", "a/2", "a/3", "b/1", "a/4 &<x>"] {
            let mut src: &[u8] = k.as_bytes();
            s3.put_object(BUCKET, k, k.len() as u64, &mut src)
                .await
                .unwrap();
        }
        let mut names = Vec::new();
        let mut token = String::new();
        let mut pages = 0;
        loop {
            let page = s3.list_objects(BUCKET, "a/", &token, 2).await.unwrap();
            assert!(page.entries.len() <= 2);
            pages += 1;
            for e in &page.entries {
                assert_eq!(e.size, e.name.len() as u64);
                assert!(e.last_modified_ns > 0 && !e.etag.is_empty(), "{e:?}");
            }
            names.extend(page.entries.into_iter().map(|e| e.name));
            if page.next.is_empty() {
                break;
            }
            token = page.next;
        }
        assert_eq!(names, ["a/1", "a/2", "a/3", "a/4 &<x>"]);
        assert_eq!(pages, 2);
        let all = s3.list_objects(BUCKET, "", "", 0).await.unwrap();
        assert_eq!(all.entries.len(), 6);
        assert!(all.next.is_empty());

        // Delete, then 404s.
        s3.delete_object(BUCKET, "a/1").await.unwrap();
        assert_err(s3.head_object(BUCKET, "a/1").await, 404, "NoSuchKey");
        let e = assert_err(s3.get_object(BUCKET, "a/1", None).await, 404, "NoSuchKey");
        assert!(e.to_string().contains(&endpoint), "{e}");
        assert_err(s3.head_bucket("no-such-bucket").await, 404, "NoSuchBucket");
        assert_err(
            s3.get_object("no-such-bucket", "k", None).await,
            404,
            "NoSuchBucket",
        );
        assert_err(
            s3.list_objects("no-such-bucket", "", "", 0).await,
            404,
            "NoSuchBucket",
        );
        let mut src: &[u8] = b"x";
        assert_err(
            s3.put_object("no-such-bucket", "k", 1, &mut src).await,
            404,
            "NoSuchBucket",
        );

        // Temporary credentials: the session token is sent and signed; without it they fail.
        let tmp_cfg = S3Config::for_endpoint(&endpoint)
            .with_credentials(&creds.tmp_access_key, &creds.tmp_secret_key);
        let tmp = S3Backend::new(S3Config {
            session_token: creds.tmp_token.clone(),
            ..tmp_cfg.clone()
        });
        assert_eq!(tmp.head_object(BUCKET, "a/2").await.unwrap().size, 3);
        let no_token = S3Backend::new(tmp_cfg);
        assert_eq!(
            no_token
                .head_object(BUCKET, "a/2")
                .await
                .unwrap_err()
                .status,
            403
        );

        // Wrong secret: moto verifies the signature.
        let bad = S3Backend::new(
            S3Config::for_endpoint(&endpoint).with_credentials(&creds.access_key, "wrong"),
        );
        let e = assert_err(
            bad.get_object(BUCKET, "a/2", None).await,
            403,
            "SignatureDoesNotMatch",
        );
        assert!(e.to_string().contains(&endpoint), "{e}");
        assert_err(bad.head_object(BUCKET, "a/2").await, 403, "AccessDenied");
        let unknown = S3Backend::new(
            S3Config::for_endpoint(&endpoint).with_credentials("AKIAUNKNOWNKEY000000", "x"),
        );
        assert_err(
            unknown.list_objects(BUCKET, "", "", 0).await,
            403,
            "InvalidAccessKeyId",
        );

        // with_endpoint: the same credentials elsewhere, sharing the pool.
        let other = s3.with_endpoint(&format!("{endpoint}/"));
        assert_eq!(other.head_object(BUCKET, "a/3").await.unwrap().size, 3);
    });
    drop(moto);
}

/// A server that accepts one connection per script entry and answers it with that entry's
/// bytes (then closes), after reading the request head. `None`: accept and say nothing; such
/// connections stay open until the returned server is finished.
struct Scripted {
    thread: std::thread::JoinHandle<()>,
    done: std::sync::mpsc::Sender<()>,
}

impl Scripted {
    fn finish(self) {
        drop(self.done);
        self.thread.join().unwrap();
    }
}

fn scripted(responses: Vec<Option<Vec<u8>>>) -> (String, Scripted) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let ep = format!("http://{}", l.local_addr().unwrap());
    let (done, wait) = std::sync::mpsc::channel::<()>();
    let thread = std::thread::spawn(move || {
        let mut held = Vec::new();
        for r in responses {
            let (mut c, _) = l.accept().unwrap();
            let mut head = Vec::new();
            let mut b = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && c.read(&mut b).unwrap_or(0) == 1 {
                head.push(b[0]);
            }
            match r {
                Some(bytes) => {
                    let _ = c.write_all(&bytes);
                }
                None => held.push(c),
            }
        }
        // Until the test is done (the sender dropped).
        let _ = wait.recv();
        drop(held);
    });
    (ep, Scripted { thread, done })
}

#[test]
fn unreachable_endpoint_is_503_quickly() {
    let port = free_port(); // nothing listens there now
    run(async move {
        let s3 = S3Backend::new(S3Config::for_endpoint(&format!("http://127.0.0.1:{port}")));
        let t = Instant::now();
        let e = assert_err(s3.head_object("b", "k").await, 503, "Unreachable");
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
        assert!(e.to_string().contains(&format!("127.0.0.1:{port}")), "{e}");
    });
}

#[test]
fn silent_server_times_out_with_503_within_the_configured_timeout() {
    let (ep, server) = scripted(vec![None]);
    run(async move {
        let s3 = S3Backend::new(S3Config {
            timeout_ms: 300,
            ..S3Config::for_endpoint(&ep)
        });
        let t = Instant::now();
        let e = assert_err(s3.get_object("b", "k", None).await, 503, "Timeout");
        let took = t.elapsed();
        assert!(
            took >= Duration::from_millis(250) && took < Duration::from_secs(3),
            "{took:?}"
        );
        assert!(e.to_string().contains(&ep), "{e}");
    });
    server.finish();
}

#[test]
fn body_cut_short_is_an_error_not_a_short_success() {
    let short = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nETag: \"e\"\r\n\r\n0123456789".to_vec();
    let list = "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>k</Key>\
                <Size>3</Size></Contents></ListBucketResult>";
    let (first, rest) = list.split_at(40);
    let chunked_ok = format!(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{first}\r\n{:x};ext=1\r\n{rest}\r\n0\r\n\r\n",
        first.len(),
        rest.len()
    )
    .into_bytes();
    let chunked_short = format!(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{first}\r\n{:x}\r\n{}",
        first.len(),
        rest.len(),
        &rest[..5]
    )
    .into_bytes();
    let chunked_get = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_vec();
    let (ep, server) = scripted(vec![
        Some(short),
        Some(chunked_ok),
        Some(chunked_short),
        Some(chunked_get),
    ]);
    run(async move {
        let s3 = S3Backend::new(S3Config::for_endpoint(&ep));
        // Content-Length: 10 of 100 bytes, then close.
        let (a, mut body) = s3.get_object("b", "k", None).await.unwrap();
        assert_eq!((a.size, a.etag.as_str()), (100, "e"));
        let mut buf = [0u8; 64];
        let n = body.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"0123456789");
        assert_eq!(body.remaining(), Some(90));
        let e = body.read(&mut buf).await.unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (502, "ShortBody"), "{e}");
        assert!(e.message.contains("10 of 100"), "{e}");
        let again = body.read(&mut buf).await.unwrap_err();
        assert_eq!(again, e, "after an error every read fails the same way");
        // A chunked listing decodes (chunk extensions ignored).
        let page = s3.list_objects("b", "", "", 0).await.unwrap();
        assert_eq!(page.entries.len(), 1);
        assert_eq!(
            (page.entries[0].name.as_str(), page.entries[0].size),
            ("k", 3)
        );
        // Chunked, closed inside a chunk.
        assert_err(s3.list_objects("b", "", "", 0).await, 502, "ShortBody");
        // A GET without a length: the object's size is unknown, an error rather than a guess.
        let e = assert_err(s3.get_object("b", "k", None).await, 502, "BadResponse");
        assert!(e.message.contains("Content-Length"), "{e}");
    });
    server.finish();
}

/// Read one request head (and its `Content-Length` body) from `c`; `None` at EOF.
fn read_request(c: &mut std::net::TcpStream) -> Option<(String, Vec<u8>)> {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if c.read(&mut b).ok()? == 0 {
            return None;
        }
        head.push(b[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let len: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap())
        })
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    c.read_exact(&mut body).unwrap();
    Some((head, body))
}

#[test]
fn keep_alive_reuses_a_connection_only_after_a_complete_body() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let ep = format!("http://{}", l.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        let mut heads = Vec::new();
        // First connection: HEAD, GET, PUT, then a GET whose body the client drops early.
        let (mut c, _) = l.accept().unwrap();
        let answers: [&[u8]; 4] = [
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nETag: \"x\"\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
            b"HTTP/1.1 200 OK\r\nETag: \"p\"\r\nContent-Length: 0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789",
        ];
        for a in answers {
            let (head, body) = read_request(&mut c).expect("a request");
            heads.push((head, body.len()));
            c.write_all(a).unwrap();
        }
        assert!(read_request(&mut c).is_none(), "the client closed it");
        // Second connection: one HEAD.
        let (mut c, _) = l.accept().unwrap();
        let (head, _) = read_request(&mut c).expect("a request");
        heads.push((head, 0));
        c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n")
            .unwrap();
        heads
    });
    run(async move {
        let s3 = S3Backend::new(S3Config::for_endpoint(&ep).with_credentials("AK", "SK"));
        assert_eq!(s3.head_object("b", "k").await.unwrap().size, 5);
        let (_, mut body) = s3.get_object("b", "k", None).await.unwrap();
        assert_eq!(read_all(&mut body).await.unwrap(), b"hello");
        let data = pattern(700_000);
        let mut src = Pieces {
            data,
            at: 0,
            piece: 65_536,
            reads: 0,
        };
        let a = s3.put_object("b", "k", 700_000, &mut src).await.unwrap();
        assert_eq!((a.size, a.etag.as_str()), (700_000, "p"));
        assert_eq!((s3.pool().connects(), s3.pool().idle_connections()), (1, 1));
        let (_, mut body) = s3.get_object("b", "k", None).await.unwrap();
        let mut buf = [0u8; 3];
        assert_eq!(body.read(&mut buf).await.unwrap(), 3);
        assert_eq!(s3.pool().idle_connections(), 0, "in use by the body");
        drop(body); // unread bytes: the connection closes
        assert_eq!(s3.head_object("b", "k").await.unwrap().size, 7);
        assert_eq!(s3.pool().connects(), 2);
    });
    let heads = server.join().unwrap();
    assert_eq!(heads.len(), 5);
    assert!(
        heads[0].0.starts_with("HEAD /b/k HTTP/1.1\r\n"),
        "{}",
        heads[0].0
    );
    let put = &heads[2];
    assert!(put.0.starts_with("PUT /b/k HTTP/1.1\r\n"));
    assert_eq!(put.1, 700_000);
    for h in [
        "x-amz-content-sha256: UNSIGNED-PAYLOAD\r\n",
        "Content-Length: 700000\r\n",
        "Authorization: AWS4-HMAC-SHA256 Credential=AK/",
    ] {
        assert!(put.0.contains(h), "{h} in {}", put.0);
    }
}

#[test]
fn stale_pooled_connection_is_retried_once_on_a_new_one() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let ep = format!("http://{}", l.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        // Answers keep-alive, then closes the idle connection (as servers do after a while).
        let (mut c, _) = l.accept().unwrap();
        read_request(&mut c).expect("a request");
        c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n")
            .unwrap();
        drop(c);
        let (mut c, _) = l.accept().unwrap();
        read_request(&mut c).expect("the retried request");
        c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n")
            .unwrap();
    });
    run(async move {
        let s3 = S3Backend::new(S3Config::for_endpoint(&ep));
        assert_eq!(s3.head_object("b", "k").await.unwrap().size, 1);
        assert_eq!(s3.pool().idle_connections(), 1);
        assert_eq!(s3.head_object("b", "k").await.unwrap().size, 2);
        assert_eq!(s3.pool().connects(), 2);
    });
    server.join().unwrap();
}

#[test]
fn put_refused_before_its_body_is_read_reports_the_servers_error() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let ep = format!("http://{}", l.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        let (mut c, _) = l.accept().unwrap();
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && c.read(&mut b).unwrap_or(0) == 1 {
            head.push(b[0]);
        }
        let xml = "<Error><Code>AccessDenied</Code><Message>no writes here</Message></Error>";
        let resp = format!(
            "HTTP/1.1 403 Forbidden\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{xml}",
            xml.len()
        );
        c.write_all(resp.as_bytes()).unwrap();
        let _ = c.shutdown(std::net::Shutdown::Write);
        // Drain what the client still sends, so the close is orderly.
        let mut sink = [0u8; 65_536];
        while c.read(&mut sink).unwrap_or(0) > 0 {}
    });
    run(async move {
        let s3 = S3Backend::new(S3Config::for_endpoint(&ep));
        let data = pattern(8 * 1024 * 1024);
        let mut src: &[u8] = &data;
        let e = assert_err(
            s3.put_object("b", "k", data.len() as u64, &mut src).await,
            403,
            "AccessDenied",
        );
        assert!(e.message.contains("no writes here"), "{e}");
    });
    server.join().unwrap();
}
