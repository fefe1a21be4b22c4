//! CPU cost of authentication per request (issue 18), without the network: what a proxy does
//! for each client request with auth on (verify the HS256 token, check it is not revoked, check
//! its permission) and what signing and checking a redirect cost.
//!
//! `cargo run --release -p cluster --example authcost [iterations]`; prints microseconds of
//! this thread's CPU (from /proc/thread-self/stat) per operation.

use net::jwt::{self, Claims, ClusterAcl};

fn cpu_ticks() -> u64 {
    let s = std::fs::read_to_string("/proc/thread-self/stat").expect("/proc/thread-self/stat");
    // Fields after the command name (which may contain spaces): utime and stime are 14 and 15.
    let rest = &s[s.rfind(')').expect("comm") + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

fn measure(name: &str, n: u64, mut f: impl FnMut(u64)) {
    let t0 = cpu_ticks();
    let w0 = std::time::Instant::now();
    for i in 0..n {
        f(i);
    }
    let ticks = cpu_ticks() - t0;
    let wall = w0.elapsed();
    println!(
        "{name:<46} {:>8.3} us CPU/op ({:.3} us wall/op, {n} ops)",
        ticks as f64 * 10_000.0 / n as f64,
        wall.as_secs_f64() * 1e6 / n as f64
    );
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(500_000);
    std::env::set_var(cluster::auth::ENV_SECRET, "authcost-secret-key");
    let key = cluster::auth::secret().expect("key set above");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let claims = Claims {
        clusters: Some(vec![ClusterAcl {
            id: "Kx9rT2bQp".into(),
            perm: jwt::Perm(771),
        }]),
        sub: "bench".into(),
        exp: Some(now + 3600),
        iat: Some(now),
        ..Default::default()
    };
    let token = jwt::sign_hs256(&claims, key);
    // A few revoked tokens, so the lookup is not of an empty set.
    let others: Vec<String> = (0..100)
        .map(|i| {
            let mut c = claims.clone();
            c.sub = format!("revoked{i}");
            jwt::sign_hs256(&c, key)
        })
        .collect();
    cluster::auth::revoke(&others);
    println!("token: {} bytes", token.len());
    measure("jwt::verify_hs256 (signature, claims)", n, |_| {
        std::hint::black_box(jwt::verify_hs256(&token, key, now).unwrap());
    });
    measure("auth::check (+ revoked list, permission)", n, |_| {
        std::hint::black_box(
            cluster::auth::check(Some(&token), "Kx9rT2bQp", Some(("b", "ais")), 1).unwrap(),
        );
    });
    let utm = net::time::base36(net::time::now_unix_ns() as u64);
    let q = format!("provider=ais&pid=pXyZ&utm={utm}");
    measure("sign_redirect (proxy, per redirect)", n, |_| {
        std::hint::black_box(cluster::auth::sign_redirect(
            "GET",
            "/v1/objects/b/o",
            &q,
            &utm,
        ));
    });
    let signed = format!(
        "{q}&sig={}",
        cluster::auth::sign_redirect("GET", "/v1/objects/b/o", &q, &utm).unwrap()
    );
    measure("redirect_signed (target, per request)", n, |_| {
        assert!(cluster::auth::redirect_signed(
            "GET",
            "/v1/objects/b/o",
            &signed,
            Some(&utm)
        ));
    });
}
