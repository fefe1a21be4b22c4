//! A deterministic, seeded simulation of primary failover (docs/ha.md) over a simulated
//! network: N proxies + M targets, each with its own Smap (real `meta::Smap`/`Snode`), a BMD
//! (version + bucket names), last-contact times and the role logic of `membership.rs` /
//! `vote.rs` re-expressed as a synchronous step function driven by a discrete-event queue.
//! The vote decisions call the real `meta::election` rules and `Smap::hrw_proxy`; every
//! received Smap or BMD is accepted by the real `meta::version::decide`.
//!
//! Modelled: keepalive (interval 500 ms, factor 3), join/re-join, the primary's keepalive
//! watcher (removal of silent nodes, late/isolated turn -> adopt a newer Smap), metasync
//! (3 attempts, 5 s deadline each, with `Ais-Caller-Id`: a receiver refuses a push from
//! a node that is neither the primary its Smap names nor named primary by the pushed,
//! at-least-as-new Smap, and a primary refused as older adopts a newer map at its next
//! turn), primary_down / vote init / elect / vote with probes, `adopt_newer_smap` (also
//! asking the primary's `lost_peers`, every 4th primary turn), `membership::apply` by
//! `Via::Push` / `Via::Fetch`, a restarted primary's start-up check, `primacy_ok`, relays of
//! control requests by non-primary proxies (with `await_new_primary`), clients creating
//! buckets. Faults: kill (forever or restart from the persisted Smap/BMD), pause
//! (SIGSTOP: messages and timers queue until resume), message drops, a partition of the
//! primary (alone or with one node) that heals.
//! `SIM=np,nt,seed,parts` with the ignored `one_seed` test prints one seed's full trace.
//! Not modelled: config sync, set-primary, maintenance/decommission/shutdown flags,
//! rebalance, message reordering beyond the random 1..50 ms delay, disk failures.

use cluster::meta::election::{self, Ballot, Voter};
use cluster::meta::version::{decide, Decision};
use cluster::meta::{Smap, Snode, FLAG_NON_ELECTABLE};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};
use std::time::Duration;

const IV: u64 = 500; // keepalive interval
const TO: u64 = 1500; // interval x factor
const PROBE: u64 = 500; // probe_ms: clamp(interval, 300, 2000)
const CALL_TO: u64 = 5000; // INTRA_CALL_TIMEOUT_MS
const CALL_ATTEMPTS: u32 = 3;
const LOST_PEERS_MAX: usize = 64; // membership::LOST_PEERS_MAX
const FAULTS_END: u64 = 60_000;
const SETTLE: u64 = 40_000; // bounded convergence time after the last fault

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
    fn chance(&mut self, pct: u64) -> bool {
        self.next() % 100 < pct
    }
}

/// Variants of the rules, to show the checker can fail.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Rules {
    Real,
    AlwaysYes,
    /// An elected primary bumps Smap and BMD versions by 1, not ELECTION_VERSION_BUMP.
    NoBump,
}

#[derive(Clone, Debug, PartialEq)]
struct Bmd {
    uuid: String,
    version: i64,
    buckets: BTreeSet<String>,
}

#[derive(Clone, Debug)]
struct Vr {
    candidate: String,
    primary: String,
    smap: Smap,
}

#[derive(Clone, Debug)]
enum Req {
    Keepalive {
        ver: i64,
    },
    Join,
    GetSmap,
    /// `GET /v1/daemon?what=bmd`
    GetBmd,
    VoteInit(Vr),
    Vote(Vr),
    Metasync {
        smap: Option<Smap>,
        bmd: Option<Bmd>,
    },
    Create(String),
}

#[derive(Clone, Debug)]
enum Resp {
    Ok,
    /// An error status; `Some(decision)` for a refusal by the version rule.
    Status(#[allow(dead_code)] u16, Option<Decision>),
    Smap(Box<Smap>),
    Bmd(Bmd),
    Joined(Box<Smap>, Bmd),
    Yes,
    No,
    Done(bool),
}
/// `Err(())`: unreachable (timeout, refused connection).
type Reply = Result<Resp, ()>;

// Variants carry a Smap by value: boxing them buys nothing in a test's event queue.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum Body {
    Req(Req),
    Resp(Reply),
}
#[derive(Debug)]
struct Msg {
    call: u64,
    from: usize,
    to: usize,
    body: Body,
}

// Variants carry a Smap by value: boxing them buys nothing in a test's event queue.
#[allow(clippy::large_enum_variant)]
enum Ev {
    Msg(Msg),
    Timer { node: usize, inc: u32, task: u64 },
    CallTimeout { call: u64, attempt: u32 },
    Retry { call: u64 },
    Fault(Fault),
    Client,
}

#[derive(Clone, Copy, Debug)]
enum Fault {
    Kill(usize),
    Restart(usize),
    Pause(usize),
    Resume(usize),
    Partition(usize, Option<usize>),
    Heal,
    DropsOn,
    DropsOff,
}

struct Call {
    caller: usize,
    inc: u32,
    task: u64,
    tag: u64,
    dest: usize,
    req: Req,
    attempts_left: u32,
    attempt: u32,
    timeout: u64,
    done: bool,
}

#[derive(Debug, Clone)]
enum LoopSt {
    Start,
    StartAdopt,
    PSleep,
    PLostAdopt {
        gap: u64,
    },
    POvertakenAdopt {
        gap: u64,
    },
    PCheckAdopt {
        paused: bool,
    },
    PMetasync,
    MSleep,
    MJoin {
        primary: usize,
        cfg_tried: bool,
        silent: u64,
    },
    MJoinAdopt {
        silent: u64,
    },
    MJoinDown,
    MKaSleep,
    MKa,
    MKaDown,
}

// Variants carry a Smap by value: boxing them buys nothing in a test's event queue.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum Kind {
    Loop(LoopSt),
    Adopt,
    PrimaryDown {
        old: String,
        clone: Smap,
        asked: Option<String>,
    },
    Elect {
        vr: Vr,
        phase: u8,
        spawned: bool,
        yes: usize,
        no: usize,
    },
    Metasync {
        older: bool,
        /// The sender was primary when the push started (metasync.rs `was_primary`).
        was_primary: bool,
    },
    VoteServe {
        vr: Vr,
        held: Smap,
        is_primary: bool,
        silent: u64,
    },
    Relay {
        req: Req,
        failed: usize,
        phase: u8,
        deadline: u64,
    },
    CreateServe,
    /// Fire and forget (spawned adopt).
    Detached,
}

/// membership::Via: how a Smap reached a node.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Via {
    Push,
    Fetch,
}

struct Task {
    node: usize,
    kind: Kind,
    pending: usize,
    results: Vec<(u64, Reply)>,
    parent: Option<u64>,
    respond: Option<(u64, usize)>,
}

struct Node {
    id: String,
    proxy: bool,
    non_electable: bool,
    alive: bool,
    paused: bool,
    inc: u32,
    backlog: Vec<Ev>,
    smap: Smap,
    bmd: Bmd,
    primary_contact: u64,
    last_seen: BTreeMap<String, u64>,
    primacy_confirmed: u64,
    joined: bool,
    left: bool,
    electing: bool,
    newer_smap_seen: bool,
    /// Primary: nodes it removed for silence (NodeState::lost_peers), newest last.
    lost_peers: Vec<usize>,
    /// Primary turns of the control loop since start (membership::control_loop).
    turn: u64,
    failures: u32,
    last_tick: u64,
    max_smap_seen: i64,
}

#[derive(Default, Debug, Clone, Copy)]
struct Counters {
    elections: u64,
    rejoins: u64,
    pauses: u64,
    partitions: u64,
    kills: u64,
    restarts: u64,
    acks: u64,
    acks_guaranteed: u64,
    acks_minority: u64,
    lost_minority: u64,
}

struct Ack {
    bucket: String,
    guaranteed: bool,
}

struct Sim {
    rules: Rules,
    rng: Rng,
    now: u64,
    seq: u64,
    q: BinaryHeap<Reverse<(u64, u64)>>,
    evs: HashMap<u64, Ev>,
    nodes: Vec<Node>,
    tasks: HashMap<u64, Task>,
    next_task: u64,
    calls: HashMap<u64, Call>,
    next_call: u64,
    side: Option<BTreeSet<usize>>,
    drops: bool,
    /// Bucket commits: name -> (committing primary, its Smap version, deposed at commit).
    commits: HashMap<String, (usize, bool)>,
    acks: Vec<Ack>,
    /// Elect task -> the Smap its election made (pushed after the BMD probes).
    elected: BTreeMap<u64, Smap>,
    client_seq: u64,
    client_calls: HashMap<u64, String>,
    dual_since: Option<u64>,
    c: Counters,
    trace: Vec<String>,
    violation: Option<String>,
    partitioned_run: bool,
    ever_partitioned_primary: BTreeSet<usize>,
    verbose: bool,
}

fn snode(id: &str, proxy: bool, digest: u64, non_electable: bool) -> Snode {
    let mut s = Snode::placeholder();
    s.daemon_id = id.into();
    s.daemon_type = if proxy { "proxy" } else { "target" }.into();
    s.id_digest = digest;
    if non_electable {
        s.flags |= FLAG_NON_ELECTABLE;
    }
    s
}

const TAG_TIMER: u64 = u64::MAX;
const TAG_CHILD: u64 = u64::MAX - 1;

impl Sim {
    fn new(np: usize, nt: usize, seed: u64, rules: Rules, parts: bool) -> Sim {
        let mut rng = Rng(seed.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ 0xDEAD_BEEF);
        let mut smap = Smap {
            pmap: BTreeMap::new(),
            proxy_si: Snode::placeholder(),
            tmap: BTreeMap::new(),
            uuid: "cluster-uuid".into(),
            creation_time: String::new(),
            version: 0,
        };
        let mut nodes = Vec::new();
        for i in 0..np + nt {
            let proxy = i < np;
            let id = if proxy {
                format!("p{i}")
            } else {
                format!("t{}", i - np)
            };
            let non_electable = proxy && np >= 5 && i == np - 1;
            let sn = snode(&id, proxy, rng.next(), non_electable);
            if proxy {
                smap.pmap.insert(id.clone(), sn);
            } else {
                smap.tmap.insert(id.clone(), sn);
            }
            nodes.push(Node {
                id,
                proxy,
                non_electable,
                alive: true,
                paused: false,
                inc: 0,
                backlog: vec![],
                smap: smap.clone(),
                bmd: Bmd {
                    uuid: "cluster-uuid".into(),
                    version: 1,
                    buckets: BTreeSet::new(),
                },
                primary_contact: 0,
                last_seen: BTreeMap::new(),
                primacy_confirmed: 0,
                joined: true,
                left: false,
                electing: false,
                newer_smap_seen: false,
                lost_peers: vec![],
                turn: 0,
                failures: 0,
                last_tick: 0,
                max_smap_seen: 0,
            });
        }
        smap.proxy_si = smap.pmap["p0"].clone();
        smap.version = 10;
        for n in &mut nodes {
            n.smap = smap.clone();
            n.max_smap_seen = 10;
        }
        let mut sim = Sim {
            rules,
            rng,
            now: 0,
            seq: 0,
            q: BinaryHeap::new(),
            evs: HashMap::new(),
            nodes,
            tasks: HashMap::new(),
            next_task: 1,
            calls: HashMap::new(),
            next_call: 1,
            side: None,
            drops: false,
            commits: HashMap::new(),
            acks: vec![],
            elected: BTreeMap::new(),
            client_seq: 0,
            client_calls: HashMap::new(),
            dual_since: None,
            c: Counters::default(),
            trace: vec![],
            violation: None,
            partitioned_run: false,
            ever_partitioned_primary: BTreeSet::new(),
            verbose: false,
        };
        for i in 0..sim.nodes.len() {
            sim.start_node(i);
        }
        sim.plan_faults(np, nt, parts);
        let mut t = 300;
        while t < FAULTS_END + SETTLE / 2 {
            sim.at(t, Ev::Client);
            t += sim.rng.range(200, 1500);
        }
        sim
    }

    fn plan_faults(&mut self, np: usize, nt: usize, parts: bool) {
        let n = np + nt;
        let mut t = 2000;
        let mut killed_forever = 0;
        while t < FAULTS_END - 5000 {
            let kind = self.rng.range(0, if parts { 9 } else { 6 });
            let dur = self.rng.range(1000, 9000);
            match kind {
                0 | 1 => {
                    // The current primary or any node, later restarted or (rarely) not.
                    let v = self.rng.range(0, n as u64 - 1) as usize;
                    let target = if self.rng.chance(60) { usize::MAX } else { v };
                    if killed_forever < (n - 1) / 2 - 1 && self.rng.chance(25) {
                        killed_forever += 1;
                        self.at(t, Ev::Fault(Fault::Kill(target)));
                    } else {
                        self.at(t, Ev::Fault(Fault::Kill(target)));
                        self.at(t + dur, Ev::Fault(Fault::Restart(target)));
                    }
                }
                2..=4 => {
                    let v = self.rng.range(0, n as u64 - 1) as usize;
                    let target = if self.rng.chance(60) { usize::MAX } else { v };
                    self.at(t, Ev::Fault(Fault::Pause(target)));
                    self.at(t + dur, Ev::Fault(Fault::Resume(target)));
                }
                5 | 6 => {
                    self.at(t, Ev::Fault(Fault::DropsOn));
                    self.at(t + dur, Ev::Fault(Fault::DropsOff));
                }
                _ => {
                    let with = if self.rng.chance(50) {
                        Some(self.rng.range(np as u64, n as u64 - 1) as usize)
                    } else {
                        None
                    };
                    self.at(t, Ev::Fault(Fault::Partition(usize::MAX, with)));
                    self.at(t + dur + 3000, Ev::Fault(Fault::Heal));
                }
            }
            t += dur + self.rng.range(3000, 10000);
        }
        self.at(FAULTS_END, Ev::Fault(Fault::Heal));
        self.at(FAULTS_END, Ev::Fault(Fault::DropsOff));
    }

    fn at(&mut self, t: u64, ev: Ev) {
        self.seq += 1;
        self.evs.insert(self.seq, ev);
        self.q.push(Reverse((t, self.seq)));
    }

    fn log(&mut self, s: String) {
        self.trace.push(format!("{:>6} {s}", self.now));
    }

    fn is_primary(&self, n: usize) -> bool {
        let nd = &self.nodes[n];
        nd.proxy && nd.smap.proxy_si.daemon_id == nd.id
    }
    fn idx(&self, id: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.id == id)
    }
    fn primacy_ok(&self, n: usize) -> bool {
        self.is_primary(n) && self.now.saturating_sub(self.nodes[n].primacy_confirmed) <= TO
    }

    // ---- network ----
    fn connected(&self, a: usize, b: usize) -> bool {
        match &self.side {
            Some(s) => s.contains(&a) == s.contains(&b),
            None => true,
        }
    }
    fn send(&mut self, call: u64, from: usize, to: usize, body: Body) {
        if !self.connected(from, to) || (self.drops && self.rng.chance(8)) {
            return;
        }
        let d = self.rng.range(1, 50);
        self.at(
            self.now + d,
            Ev::Msg(Msg {
                call,
                from,
                to,
                body,
            }),
        );
    }

    fn call(&mut self, task: u64, tag: u64, dest: usize, req: Req, attempts: u32, timeout: u64) {
        let n = self.tasks[&task].node;
        self.tasks.get_mut(&task).unwrap().pending += 1;
        let id = self.next_call;
        self.next_call += 1;
        self.calls.insert(
            id,
            Call {
                caller: n,
                inc: self.nodes[n].inc,
                task,
                tag,
                dest,
                req,
                attempts_left: attempts - 1,
                attempt: 0,
                timeout,
                done: false,
            },
        );
        self.attempt(id);
    }
    fn attempt(&mut self, id: u64) {
        let c = &self.calls[&id];
        let (caller, dest, req, timeout, attempt) =
            (c.caller, c.dest, c.req.clone(), c.timeout, c.attempt);
        self.send(id, caller, dest, Body::Req(req));
        self.at(self.now + timeout, Ev::CallTimeout { call: id, attempt });
    }
    fn call_failed(&mut self, id: u64) {
        let c = self.calls.get_mut(&id).unwrap();
        if c.attempts_left > 0 {
            c.attempts_left -= 1;
            c.attempt += 1;
            let back = 100 * u64::from(c.attempt);
            c.attempt += 1000; // no stale timeout matches while waiting
            self.at(self.now + back, Ev::Retry { call: id });
        } else {
            c.done = true;
            let (task, tag) = (c.task, c.tag);
            self.complete(task, tag, Err(()));
        }
    }

    fn sleep(&mut self, task: u64, ms: u64) {
        let n = self.tasks[&task].node;
        self.tasks.get_mut(&task).unwrap().pending += 1;
        let inc = self.nodes[n].inc;
        self.at(self.now + ms, Ev::Timer { node: n, inc, task });
    }

    fn spawn(
        &mut self,
        node: usize,
        kind: Kind,
        parent: Option<u64>,
        respond: Option<(u64, usize)>,
    ) -> u64 {
        let id = self.next_task;
        self.next_task += 1;
        if let Some(p) = parent {
            self.tasks.get_mut(&p).unwrap().pending += 1;
        }
        self.tasks.insert(
            id,
            Task {
                node,
                kind,
                pending: 0,
                results: vec![],
                parent,
                respond,
            },
        );
        id
    }

    fn complete(&mut self, task: u64, tag: u64, r: Reply) {
        let Some(t) = self.tasks.get_mut(&task) else {
            return;
        };
        t.results.push((tag, r));
        t.pending -= 1;
        if t.pending == 0 {
            self.step(task);
        }
    }

    fn finish(&mut self, task: u64, r: Reply) {
        let t = self.tasks.remove(&task).unwrap();
        if let Some(p) = t.parent {
            self.complete(p, TAG_CHILD, r.clone());
        }
        if let Some((call, to)) = t.respond {
            self.send(call, t.node, to, Body::Resp(r));
        }
    }

    fn child_result(&mut self, task: u64) -> bool {
        let t = self.tasks.get_mut(&task).unwrap();
        let r = t.results.drain(..).find(|(tag, _)| *tag == TAG_CHILD);
        matches!(r, Some((_, Ok(Resp::Done(true)))))
    }

    // ---- node lifecycle ----
    fn start_node(&mut self, n: usize) {
        let now = self.now;
        let nd = &mut self.nodes[n];
        nd.primary_contact = now;
        nd.last_seen.clear();
        nd.primacy_confirmed = 0;
        nd.joined = false;
        nd.left = false;
        nd.electing = false;
        nd.newer_smap_seen = false;
        nd.lost_peers.clear();
        nd.turn = 0;
        nd.failures = 0;
        nd.last_tick = now;
        let t = self.spawn(n, Kind::Loop(LoopSt::Start), None, None);
        self.step(t);
    }

    fn kill_tasks(&mut self, n: usize) {
        self.tasks.retain(|_, t| t.node != n);
    }

    // ---- metadata ----
    /// membership::apply: the BMD first, then the Smap, each by the version rule; an
    /// older or foreign one is an error (and what follows is not applied).
    fn apply(
        &mut self,
        n: usize,
        smap: Option<Smap>,
        bmd: Option<Bmd>,
        via: Via,
    ) -> Result<(), Decision> {
        let was_primary = self.is_primary(n);
        let old = self.nodes[n].smap.clone();
        if let Some(b) = bmd {
            let cur = &self.nodes[n].bmd;
            match decide(&cur.uuid, cur.version, &b.uuid, b.version) {
                Decision::Apply => self.nodes[n].bmd = b,
                Decision::Same => {}
                d => return Err(d),
            }
        }
        let Some(s) = smap else {
            return Ok(());
        };
        match decide(&old.uuid, old.version, &s.uuid, s.version) {
            Decision::Apply => {}
            Decision::Same => return Ok(()),
            d => return Err(d),
        }
        if self.verbose {
            self.log(format!(
                "{} applies v{} (primary {}) via {via:?}",
                self.nodes[n].id, s.version, s.proxy_si.daemon_id
            ));
        }
        self.set_smap(n, s);
        let me = self.nodes[n].id.clone();
        let new = self.nodes[n].smap.clone();
        let moved = old.proxy_si.daemon_id != new.proxy_si.daemon_id;
        if was_primary && !self.is_primary(n) {
            self.c.rejoins += 1;
            self.log(format!(
                "{me} deposed: follows {} (v{})",
                new.proxy_si.daemon_id, new.version
            ));
            self.nodes[n].joined = false;
            self.nodes[n].primary_contact = self.now;
        } else if !was_primary && self.is_primary(n) {
            self.become_primary(n);
        } else if moved && old.version > 0 {
            self.nodes[n].primary_contact = self.now;
        }
        if !new.pmap.contains_key(&me) && !new.tmap.contains_key(&me) && new.version > 0 {
            if moved || was_primary || via == Via::Fetch {
                self.nodes[n].joined = false;
            } else {
                self.log(format!("{me} left (push without it)"));
                self.nodes[n].left = true;
            }
        }
        Ok(())
    }

    fn set_smap(&mut self, n: usize, s: Smap) {
        let nd = &mut self.nodes[n];
        if s.version < nd.smap.version {
            self.violation.get_or_insert(format!(
                "{}: Smap v{} after v{}",
                nd.id, s.version, nd.smap.version
            ));
        }
        nd.max_smap_seen = nd.max_smap_seen.max(s.version);
        nd.smap = s;
    }

    fn become_primary(&mut self, n: usize) {
        let now = self.now;
        let ids: Vec<String> = self.nodes[n]
            .smap
            .nodes()
            .map(|x| x.daemon_id.clone())
            .collect();
        let nd = &mut self.nodes[n];
        for id in ids {
            nd.last_seen.insert(id, now);
        }
        nd.primacy_confirmed = now;
        nd.joined = true;
    }

    fn metasync(&mut self, n: usize, parent: u64, smap: Option<Smap>, bmd: Option<Bmd>) {
        let was_primary = self.is_primary(n);
        let t = self.spawn(
            n,
            Kind::Metasync {
                older: false,
                was_primary,
            },
            Some(parent),
            None,
        );
        let me = self.nodes[n].id.clone();
        let dests: Vec<usize> = self.nodes[n]
            .smap
            .nodes()
            .filter(|x| x.daemon_id != me)
            .filter_map(|x| self.idx(&x.daemon_id))
            .collect();
        for d in dests {
            let req = Req::Metasync {
                smap: smap.clone(),
                bmd: bmd.clone(),
            };
            self.call(t, d as u64, d, req, CALL_ATTEMPTS, CALL_TO);
        }
        if self.tasks[&t].pending == 0 {
            self.step(t);
        }
    }

    fn adopt(&mut self, n: usize, parent: Option<u64>, timeout: u64) {
        let t = self.spawn(n, Kind::Adopt, parent, None);
        let me = self.nodes[n].id.clone();
        let mut dests: BTreeSet<usize> = self.nodes[n]
            .smap
            .nodes()
            .filter(|x| x.daemon_id != me)
            .filter_map(|x| self.idx(&x.daemon_id))
            .collect();
        if n != 0 {
            dests.insert(0); // --primary-url
        }
        dests.extend(self.nodes[n].lost_peers.iter().copied());
        for d in dests {
            self.call(t, d as u64, d, Req::GetSmap, 1, timeout);
        }
        if self.tasks[&t].pending == 0 {
            self.step(t);
        }
    }

    // ---- the step function ----
    fn step(&mut self, task: u64) {
        let Some(t) = self.tasks.get(&task) else {
            return;
        };
        if t.pending > 0 {
            return;
        }
        let n = t.node;
        let kind = std::mem::replace(&mut self.tasks.get_mut(&task).unwrap().kind, Kind::Detached);
        match kind {
            Kind::Loop(st) => self.loop_step(task, n, st),
            Kind::Adopt => {
                let results = std::mem::take(&mut self.tasks.get_mut(&task).unwrap().results);
                let cur = self.nodes[n].smap.clone();
                let mut best: Option<Smap> = None;
                for (_, r) in results {
                    if let Ok(Resp::Smap(s)) = r {
                        if s.uuid == cur.uuid
                            && s.version > best.as_ref().map_or(cur.version, |b| b.version)
                            && !s.proxy_si.daemon_id.is_empty()
                        {
                            best = Some(*s);
                        }
                    }
                }
                if self.verbose {
                    let m = format!(
                        "{} adopt -> {:?}",
                        self.nodes[n].id,
                        best.as_ref().map(|s| s.version)
                    );
                    self.log(m);
                }
                let ok = match best {
                    Some(s) => self.apply(n, Some(s), None, Via::Fetch).is_ok(),
                    None => false,
                };
                self.finish(task, Ok(Resp::Done(ok)));
            }
            Kind::Metasync {
                mut older,
                was_primary,
            } => {
                let results = std::mem::take(&mut self.tasks.get_mut(&task).unwrap().results);
                for (_, r) in results {
                    if let Ok(Resp::Status(_, Some(Decision::Older))) = r {
                        older = true;
                    }
                }
                // Regardless of whether the push carried a Smap (metasync.rs): refused as
                // older while we are primary -> Pushed::Deposed (`Done(false)`); also
                // deposed if we were primary when the push started and no longer are.
                let refused = older && self.is_primary(n);
                if refused {
                    self.nodes[n].newer_smap_seen = true;
                }
                let deposed = refused || (was_primary && !self.is_primary(n));
                self.finish(task, Ok(Resp::Done(!deposed)));
            }
            Kind::PrimaryDown { old, clone, asked } => {
                self.primary_down_step(task, n, old, clone, asked);
            }
            Kind::Elect {
                vr,
                phase,
                spawned,
                yes,
                no,
            } => self.elect_step(task, n, vr, phase, spawned, yes, no),
            Kind::VoteServe {
                vr,
                held,
                is_primary,
                silent,
            } => {
                let results = std::mem::take(&mut self.tasks.get_mut(&task).unwrap().results);
                let answers = matches!(results.first(), Some((_, Ok(Resp::Smap(s)))) if s.proxy_si.daemon_id == vr.primary);
                if answers {
                    self.nodes[n].primary_contact = self.now;
                }
                let voter = Voter {
                    held: &held,
                    is_primary,
                    silent: Duration::from_millis(silent),
                    interval: Duration::from_millis(IV),
                };
                let b = election::vote_after_probe(&voter, &vr.primary, &vr.candidate, answers);
                let r = if b == Ballot::Yes || self.rules == Rules::AlwaysYes {
                    Resp::Yes
                } else {
                    Resp::No
                };
                self.finish(task, Ok(r));
            }
            Kind::Relay {
                req,
                failed,
                phase,
                deadline,
            } => self.relay_step(task, n, req, failed, phase, deadline),
            Kind::CreateServe => {
                // buckets::sync_bmd: a push that found us deposed fails the change (503).
                let r = if self.child_result(task) {
                    Resp::Ok
                } else {
                    Resp::Status(503, None)
                };
                self.finish(task, Ok(r));
            }
            Kind::Detached => self.finish(task, Ok(Resp::Ok)),
        }
    }

    fn loop_next(&mut self, task: u64, n: usize) {
        // One turn done: the next acts by the role the Smap gives.
        if self.is_primary(n) {
            self.set_loop(task, LoopSt::PSleep);
            self.sleep(task, IV);
        } else {
            self.nodes[n].last_tick = self.now;
            self.member_tick(task, n);
        }
    }
    fn set_loop(&mut self, task: u64, st: LoopSt) {
        self.tasks.get_mut(&task).unwrap().kind = Kind::Loop(st);
    }
    fn clear(&mut self, task: u64) -> Vec<(u64, Reply)> {
        std::mem::take(&mut self.tasks.get_mut(&task).unwrap().results)
    }

    fn loop_step(&mut self, task: u64, n: usize, st: LoopSt) {
        match st {
            LoopSt::Start => {
                if self.is_primary(n) {
                    self.become_primary(n);
                    // p0 founded the cluster: the only proxy without --primary-url.
                    if self.nodes[n].smap.nodes().count() > 1 || n != 0 {
                        self.nodes[n].primacy_confirmed = 0;
                        self.set_loop(task, LoopSt::StartAdopt);
                        self.adopt(n, Some(task), 1000);
                        return;
                    }
                }
                self.nodes[n].last_tick = self.now;
                self.loop_next(task, n);
            }
            LoopSt::StartAdopt => {
                if !self.child_result(task) {
                    self.nodes[n].primacy_confirmed = self.now;
                }
                self.nodes[n].last_tick = self.now;
                self.loop_next(task, n);
            }
            LoopSt::PSleep => {
                self.clear(task);
                let gap = self.now - self.nodes[n].last_tick;
                self.nodes[n].last_tick = self.now;
                if !self.is_primary(n) {
                    return self.loop_next(task, n);
                }
                self.nodes[n].turn += 1;
                if self.nodes[n].turn.is_multiple_of(4) && !self.nodes[n].lost_peers.is_empty() {
                    self.set_loop(task, LoopSt::PLostAdopt { gap });
                    self.adopt(n, Some(task), 500);
                    return;
                }
                self.primary_tick1(task, n, gap);
            }
            LoopSt::PLostAdopt { gap } => {
                if self.child_result(task) {
                    return self.loop_next(task, n);
                }
                self.primary_tick1(task, n, gap);
            }
            LoopSt::POvertakenAdopt { gap } => {
                if self.child_result(task) {
                    return self.loop_next(task, n);
                }
                self.primary_tick2(task, n, gap);
            }
            LoopSt::PCheckAdopt { paused } => {
                if self.child_result(task) {
                    return self.loop_next(task, n);
                }
                if paused {
                    self.become_primary(n);
                    return self.loop_next(task, n);
                }
                self.primary_tick3(task, n);
            }
            LoopSt::PMetasync => {
                self.clear(task);
                self.loop_next(task, n);
            }
            LoopSt::MSleep => {
                self.clear(task);
                self.loop_next(task, n);
            }
            LoopSt::MJoin {
                primary,
                cfg_tried,
                silent,
            } => {
                let r = self.clear(task).pop().map(|x| x.1).unwrap_or(Err(()));
                if self.verbose {
                    let m = format!(
                        "{} join to {} -> {r:?}",
                        self.nodes[n].id, self.nodes[primary].id
                    );
                    self.log(m.chars().take(120).collect());
                }
                let res: Result<(), bool> = match r {
                    Ok(Resp::Joined(s, b)) => {
                        self.nodes[n].primary_contact = self.now;
                        match self.apply(n, Some(*s), Some(b), Via::Fetch) {
                            Ok(()) | Err(Decision::Older) => Ok(()),
                            Err(_) => Err(false),
                        }
                    }
                    Ok(_) => Err(false),
                    Err(()) => Err(true),
                };
                match res {
                    Ok(()) => {
                        let nd = &mut self.nodes[n];
                        nd.failures = 0;
                        nd.left = false;
                        nd.joined = true;
                        self.loop_next(task, n);
                    }
                    Err(true) if !cfg_tried && primary != 0 && n != 0 => {
                        // p0 founded the cluster: it has no --primary-url.
                        self.set_loop(
                            task,
                            LoopSt::MJoin {
                                primary: 0,
                                cfg_tried: true,
                                silent,
                            },
                        );
                        self.call(task, 0, 0, Req::Join, CALL_ATTEMPTS, CALL_TO);
                    }
                    Err(unreachable) => {
                        self.nodes[n].failures += 1;
                        if unreachable {
                            self.set_loop(task, LoopSt::MJoinAdopt { silent });
                            self.adopt(n, Some(task), IV);
                        } else {
                            self.join_wait(task, n);
                        }
                    }
                }
            }
            LoopSt::MJoinAdopt { silent } => {
                if self.child_result(task) {
                    return self.loop_next(task, n);
                }
                if silent > TO * 2 {
                    self.set_loop(task, LoopSt::MJoinDown);
                    self.primary_down(n, Some(task));
                    if self.tasks[&task].pending > 0 {
                        return;
                    }
                    self.clear(task);
                }
                self.join_wait(task, n);
            }
            LoopSt::MJoinDown => {
                self.clear(task);
                self.join_wait(task, n);
            }
            LoopSt::MKaSleep => {
                self.clear(task);
                if self.is_primary(n) || !self.nodes[n].joined {
                    return self.loop_next(task, n);
                }
                let p = self.join_url(n);
                let ver = self.nodes[n].smap.version;
                self.set_loop(task, LoopSt::MKa);
                self.call(task, 0, p, Req::Keepalive { ver }, 1, 2 * IV);
            }
            LoopSt::MKa => {
                let r = self.clear(task).pop().map(|x| x.1).unwrap_or(Err(()));
                match r {
                    Ok(Resp::Ok) => self.nodes[n].primary_contact = self.now,
                    Ok(_) => {
                        self.nodes[n].primary_contact = self.now;
                        self.nodes[n].joined = false;
                    }
                    Err(()) => {
                        if self.now - self.nodes[n].primary_contact > TO {
                            self.set_loop(task, LoopSt::MKaDown);
                            self.primary_down(n, Some(task));
                            if self.tasks[&task].pending > 0 {
                                return;
                            }
                            self.clear(task);
                        }
                    }
                }
                self.loop_next(task, n);
            }
            LoopSt::MKaDown => {
                self.clear(task);
                self.loop_next(task, n);
            }
        }
    }

    fn join_wait(&mut self, task: u64, n: usize) {
        let f = u64::from(self.nodes[n].failures.min(20));
        let wait = (500 * f).min(10_000).min(IV * 2);
        self.set_loop(task, LoopSt::MSleep);
        self.sleep(task, wait);
    }

    fn join_url(&self, n: usize) -> usize {
        let s = &self.nodes[n].smap;
        if s.version > 0
            && !s.proxy_si.daemon_id.is_empty()
            && s.proxy_si.daemon_id != self.nodes[n].id
        {
            if let Some(i) = self.idx(&s.proxy_si.daemon_id) {
                return i;
            }
        }
        0
    }

    fn member_tick(&mut self, task: u64, n: usize) {
        if self.nodes[n].left {
            self.set_loop(task, LoopSt::MSleep);
            return self.sleep(task, IV);
        }
        let primary = self.join_url(n);
        let silent = self.now - self.nodes[n].primary_contact;
        if self.verbose && !self.nodes[n].joined {
            let m = format!(
                "{} member_tick: join {}",
                self.nodes[n].id, self.nodes[primary].id
            );
            self.log(m);
        }
        if !self.nodes[n].joined {
            self.set_loop(
                task,
                LoopSt::MJoin {
                    primary,
                    cfg_tried: false,
                    silent,
                },
            );
            self.call(task, 0, primary, Req::Join, CALL_ATTEMPTS, CALL_TO);
            return;
        }
        self.set_loop(task, LoopSt::MKaSleep);
        self.sleep(task, IV);
    }

    /// primary_tick, first part: a metasync refused as older -> adopt a newer map.
    fn primary_tick1(&mut self, task: u64, n: usize, gap: u64) {
        if std::mem::take(&mut self.nodes[n].newer_smap_seen) {
            self.set_loop(task, LoopSt::POvertakenAdopt { gap });
            self.adopt(n, Some(task), 1000);
            return;
        }
        self.primary_tick2(task, n, gap);
    }

    fn primary_tick2(&mut self, task: u64, n: usize, gap: u64) {
        let me = self.nodes[n].id.clone();
        let others: Vec<String> = self.nodes[n]
            .smap
            .nodes()
            .map(|x| x.daemon_id.clone())
            .filter(|id| *id != me)
            .collect();
        let now = self.now;
        let stale = others
            .iter()
            .filter(|id| now - *self.nodes[n].last_seen.entry((*id).clone()).or_insert(now) > TO)
            .count();
        let paused = gap > TO;
        let isolated = others.len() >= 2 && stale == others.len();
        if paused || isolated {
            self.set_loop(task, LoopSt::PCheckAdopt { paused });
            self.adopt(n, Some(task), IV.clamp(300, 2000));
            return;
        }
        self.primary_tick3(task, n);
    }

    fn primary_tick3(&mut self, task: u64, n: usize) {
        self.nodes[n].primacy_confirmed = self.now;
        let me = self.nodes[n].id.clone();
        let now = self.now;
        let stale: Vec<String> = self.nodes[n]
            .smap
            .nodes()
            .map(|x| x.daemon_id.clone())
            .filter(|id| *id != me)
            .filter(|id| now - self.nodes[n].last_seen.get(id).copied().unwrap_or(now) > TO)
            .collect();
        if stale.is_empty() || !self.primacy_ok(n) {
            return self.loop_next(task, n);
        }
        let mut s = self.nodes[n].smap.clone();
        for id in &stale {
            s.remove(id);
        }
        s.version += 1;
        self.log(format!("{me} removes {stale:?} (v{})", s.version));
        let lost: Vec<usize> = stale.iter().filter_map(|id| self.idx(id)).collect();
        let lp = &mut self.nodes[n].lost_peers;
        for i in lost {
            lp.retain(|&u| u != i);
            lp.push(i);
        }
        let excess = lp.len().saturating_sub(LOST_PEERS_MAX);
        lp.drain(..excess);
        self.set_smap(n, s.clone());
        self.set_loop(task, LoopSt::PMetasync);
        self.metasync(n, task, Some(s), None);
    }

    /// vote::primary_down, as a child of `parent` (the control loop).
    fn primary_down(&mut self, n: usize, parent: Option<u64>) {
        let smap = self.nodes[n].smap.clone();
        let old = smap.proxy_si.daemon_id.clone();
        if old.is_empty() || self.is_primary(n) || smap.version == 0 {
            return;
        }
        let t = self.spawn(
            n,
            Kind::PrimaryDown {
                old,
                clone: smap,
                asked: None,
            },
            parent,
            None,
        );
        self.step(t);
    }

    fn record(&self, cand: &str, smap: &Smap) -> Vr {
        Vr {
            candidate: cand.into(),
            primary: smap.proxy_si.daemon_id.clone(),
            smap: smap.clone(),
        }
    }

    fn primary_down_step(
        &mut self,
        task: u64,
        n: usize,
        old: String,
        mut clone: Smap,
        asked: Option<String>,
    ) {
        if let Some(c) = asked {
            let r = self.clear(task).pop().map(|x| x.1).unwrap_or(Err(()));
            if r.is_ok() {
                return self.finish(task, Ok(Resp::Done(true)));
            }
            clone.remove(&c);
        } else if !self.tasks[&task].results.is_empty() {
            // The inline election finished.
            self.clear(task);
            return self.finish(task, Ok(Resp::Done(true)));
        }
        let Some(cand) = clone.hrw_proxy(&old).cloned() else {
            return self.finish(task, Ok(Resp::Done(false)));
        };
        if self.nodes[n].proxy && cand.daemon_id == self.nodes[n].id {
            let vr = self.record(&cand.daemon_id, &clone);
            self.tasks.get_mut(&task).unwrap().kind = Kind::PrimaryDown {
                old,
                clone,
                asked: None,
            };
            self.elect(n, vr, Some(task));
            if self.tasks[&task].pending == 0 {
                self.clear(task);
                self.finish(task, Ok(Resp::Done(false)));
            }
            return;
        }
        let ci = self.idx(&cand.daemon_id).unwrap();
        let vr = self.record(&cand.daemon_id, &clone);
        self.tasks.get_mut(&task).unwrap().kind = Kind::PrimaryDown {
            old,
            clone,
            asked: Some(cand.daemon_id.clone()),
        };
        self.call(task, 0, ci, Req::VoteInit(vr), 1, PROBE * 2);
    }

    fn elect(&mut self, n: usize, vr: Vr, parent: Option<u64>) {
        if self.is_primary(n) || self.nodes[n].electing {
            return;
        }
        self.nodes[n].electing = true;
        let cur = &self.nodes[n].smap;
        if cur.version > vr.smap.version && cur.proxy_si.daemon_id != vr.primary {
            self.nodes[n].electing = false;
            return;
        }
        let t = self.spawn(n, Kind::Detached, parent, None);
        self.tasks.get_mut(&t).unwrap().kind = Kind::Elect {
            vr: vr.clone(),
            phase: 0,
            spawned: parent.is_none(),
            yes: 0,
            no: 0,
        };
        match vr
            .smap
            .node(&vr.primary)
            .and_then(|p| self.idx(&p.daemon_id))
        {
            Some(p) => self.call(t, 0, p, Req::GetSmap, 1, PROBE),
            None => self.step(t),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn elect_step(
        &mut self,
        task: u64,
        n: usize,
        vr: Vr,
        phase: u8,
        spawned: bool,
        mut yes: usize,
        mut no: usize,
    ) {
        let results = self.clear(task);
        let me = self.nodes[n].id.clone();
        let set = |s: &mut Sim, phase, yes, no| {
            s.tasks.get_mut(&task).unwrap().kind = Kind::Elect {
                vr: vr.clone(),
                phase,
                spawned,
                yes,
                no,
            };
        };
        let lose = |s: &mut Sim| {
            s.nodes[n].electing = false;
            s.finish(task, Ok(Resp::Done(false)));
        };
        match phase {
            0 => {
                if let Some((_, Ok(Resp::Smap(s)))) = results.first() {
                    if s.proxy_si.daemon_id == vr.primary {
                        return lose(self);
                    }
                }
                let voters: Vec<usize> = vr
                    .smap
                    .nodes()
                    .filter(|x| x.daemon_id != me && x.daemon_id != vr.primary)
                    .filter_map(|x| self.idx(&x.daemon_id))
                    .collect();
                set(self, 1, 0, 0);
                for v in voters {
                    self.call(
                        task,
                        v as u64,
                        v,
                        Req::Vote(vr.clone()),
                        1,
                        PROBE * 2 + 1000,
                    );
                }
                if self.tasks[&task].pending == 0 {
                    self.step(task);
                }
            }
            1 => {
                for (_, r) in results {
                    if matches!(r, Ok(Resp::Yes)) {
                        yes += 1;
                    } else {
                        no += 1;
                    }
                }
                if !election::won(yes, no) {
                    return lose(self);
                }
                let mut s = self.nodes[n].smap.clone();
                if election::commit(&mut s, &me, &vr.primary).is_none() {
                    return lose(self);
                }
                s.version += if self.rules == Rules::NoBump {
                    1
                } else {
                    election::ELECTION_VERSION_BUMP
                };
                self.c.elections += 1;
                self.log(format!(
                    "{me} elected ({yes}:{no}), v{} deposes {}",
                    s.version, vr.primary
                ));
                self.set_smap(n, s.clone());
                self.become_primary(n);
                set(self, 2, yes, no);
                self.elected.insert(task, s.clone());
                // vote::adopt_newest_bmd: ask every other node of the new Smap for its BMD.
                let dests: Vec<usize> = s
                    .nodes()
                    .filter(|x| x.daemon_id != me)
                    .filter_map(|x| self.idx(&x.daemon_id))
                    .collect();
                for d in dests {
                    self.call(task, d as u64, d, Req::GetBmd, 1, PROBE);
                }
                if self.tasks[&task].pending == 0 {
                    self.step(task);
                }
            }
            2 => {
                let cur = self.nodes[n].bmd.clone();
                let mut best: Option<Bmd> = None;
                for (_, r) in results {
                    if let Ok(Resp::Bmd(b)) = r {
                        if b.uuid == cur.uuid
                            && b.version > best.as_ref().map_or(cur.version, |x| x.version)
                        {
                            best = Some(b);
                        }
                    }
                }
                if let Some(b) = best {
                    // apply_bmd: by the version rule against the BMD we hold now.
                    let now = &self.nodes[n].bmd;
                    if decide(&now.uuid, now.version, &b.uuid, b.version) == Decision::Apply {
                        if self.verbose {
                            self.log(format!(
                                "{me} takes newer BMD v{} (had v{})",
                                b.version, now.version
                            ));
                        }
                        self.nodes[n].bmd = b;
                    }
                }
                // update_bmd_by(ELECTION_VERSION_BUMP): primacy_ok first, else elect fails.
                let new = self.elected.remove(&task).expect("elected Smap");
                if !self.primacy_ok(n) {
                    return lose(self);
                }
                self.nodes[n].bmd.version += if self.rules == Rules::NoBump {
                    1
                } else {
                    election::ELECTION_VERSION_BUMP
                };
                set(self, 3, yes, no);
                let bmd = self.nodes[n].bmd.clone();
                self.metasync(n, task, Some(new), Some(bmd));
            }
            _ => {
                self.nodes[n].electing = false;
                self.finish(task, Ok(Resp::Done(true)));
            }
        }
    }

    fn relay_step(
        &mut self,
        task: u64,
        n: usize,
        req: Req,
        failed: usize,
        phase: u8,
        deadline: u64,
    ) {
        let results = self.clear(task);
        let r = results.into_iter().find(|(t, _)| *t == 0).map(|x| x.1);
        let set = |s: &mut Sim, phase, deadline| {
            s.tasks.get_mut(&task).unwrap().kind = Kind::Relay {
                req: req.clone(),
                failed,
                phase,
                deadline,
            };
        };
        match phase {
            0 => match r {
                Some(Ok(x)) => self.finish(task, Ok(x)),
                _ => {
                    set(self, 1, self.now + TO * 3 + 5000);
                    self.sleep(task, 0);
                }
            },
            1 => {
                let p = self.join_url(n);
                let named = &self.nodes[n].smap.proxy_si.daemon_id;
                if !named.is_empty() && p != failed && *named != self.nodes[n].id {
                    set(self, 2, deadline);
                    self.call(task, 0, p, req.clone(), CALL_ATTEMPTS, CALL_TO);
                } else if self.is_primary(n) {
                    // We became the primary meanwhile: serve it ourselves.
                    let respond = self.tasks.remove(&task).unwrap().respond;
                    let ok = match req {
                        Req::Create(b) => self.create_at_primary(n, b, respond).is_some(),
                        _ => false,
                    };
                    if !ok {
                        if let Some((call, to)) = respond {
                            self.send(call, n, to, Body::Resp(Ok(Resp::Status(503, None))));
                        }
                    }
                } else if self.now < deadline {
                    set(self, 1, deadline);
                    self.sleep(task, 100);
                } else {
                    self.finish(task, Err(()));
                }
            }
            _ => self.finish(task, r.unwrap_or(Err(()))),
        }
    }

    /// Primary: create bucket `b` (update_bmd + metasync); `None` if refused at once.
    fn create_at_primary(
        &mut self,
        n: usize,
        b: String,
        respond: Option<(u64, usize)>,
    ) -> Option<u64> {
        if !self.primacy_ok(n) || self.nodes[n].bmd.buckets.contains(&b) {
            return None;
        }
        let bmd = {
            let nd = &mut self.nodes[n];
            nd.bmd.version += 1;
            nd.bmd.buckets.insert(b.clone());
            nd.bmd.clone()
        };
        let minority = self.deposed(n) || self.side.as_ref().is_some_and(|s| s.contains(&n));
        if self.verbose {
            self.log(format!(
                "{} commits {b} (bmd v{}, smap v{}, minority {minority})",
                self.nodes[n].id, bmd.version, self.nodes[n].smap.version
            ));
        }
        self.commits.insert(b, (n, minority));
        let t = self.spawn(n, Kind::CreateServe, None, respond);
        self.metasync(n, t, None, Some(bmd));
        Some(t)
    }

    /// Some node (live or not) holds a newer Smap naming another primary.
    fn deposed(&self, n: usize) -> bool {
        let me = &self.nodes[n];
        self.nodes
            .iter()
            .any(|o| o.smap.version > me.smap.version && o.smap.proxy_si.daemon_id != me.id)
    }

    // ---- message handling ----
    fn serve(&mut self, n: usize, call: u64, from: usize, req: Req) {
        let reply = |s: &mut Sim, r: Reply| s.send(call, n, from, Body::Resp(r));
        match req {
            Req::GetSmap => {
                let s = Box::new(self.nodes[n].smap.clone());
                reply(self, Ok(Resp::Smap(s)));
            }
            Req::GetBmd => {
                let b = self.nodes[n].bmd.clone();
                reply(self, Ok(Resp::Bmd(b)));
            }
            Req::Keepalive { .. } | Req::Join | Req::Create(_) if !self.is_primary(n) => {
                if !self.nodes[n].proxy {
                    return reply(self, Ok(Resp::Status(400, None)));
                }
                let failed = self.join_url(n);
                if failed == n {
                    return reply(self, Ok(Resp::Status(503, None)));
                }
                let t = self.spawn(n, Kind::Detached, None, Some((call, from)));
                self.tasks.get_mut(&t).unwrap().kind = Kind::Relay {
                    req: req.clone(),
                    failed,
                    phase: 0,
                    deadline: 0,
                };
                self.call(t, 0, failed, req, CALL_ATTEMPTS, CALL_TO);
            }
            Req::Keepalive { ver } => {
                let id = self.nodes[from].id.clone();
                let cur = self.nodes[n].smap.version;
                if self.nodes[n].smap.node(&id).is_none() {
                    return reply(self, Ok(Resp::Status(404, None)));
                }
                self.nodes[n].last_seen.insert(id, self.now);
                if ver > cur {
                    self.adopt(n, None, 1000);
                    return reply(self, Ok(Resp::Status(409, None)));
                }
                if ver != cur {
                    return reply(self, Ok(Resp::Status(409, None)));
                }
                reply(self, Ok(Resp::Ok));
            }
            Req::Join => {
                let id = self.nodes[from].id.clone();
                let now = self.now;
                self.nodes[n].last_seen.insert(id.clone(), now);
                self.nodes[n].lost_peers.retain(|&u| u != from);
                let known = self.nodes[n].smap.node(&id).is_some();
                if !known {
                    if !self.primacy_ok(n) {
                        return reply(self, Ok(Resp::Status(503, None)));
                    }
                    let mut s = self.nodes[n].smap.clone();
                    let sn = snode(
                        &id,
                        self.nodes[from].proxy,
                        self.digest(from),
                        self.nodes[from].non_electable,
                    );
                    if sn.daemon_type == "proxy" {
                        s.pmap.insert(id, sn);
                    } else {
                        s.tmap.insert(id, sn);
                    }
                    s.version += 1;
                    self.set_smap(n, s.clone());
                    let b = self.nodes[n].bmd.clone();
                    reply(self, Ok(Resp::Joined(Box::new(s.clone()), b)));
                    let t = self.spawn(n, Kind::Detached, None, None);
                    self.tasks.get_mut(&t).unwrap().kind = Kind::Detached;
                    self.metasync(n, t, Some(s), None);
                } else {
                    let s = Box::new(self.nodes[n].smap.clone());
                    let b = self.nodes[n].bmd.clone();
                    reply(self, Ok(Resp::Joined(s, b)));
                }
            }
            Req::Create(b) => match self.create_at_primary(n, b.clone(), Some((call, from))) {
                Some(_) => {}
                None => {
                    let st = if self.nodes[n].bmd.buckets.contains(&b) {
                        409
                    } else {
                        503
                    };
                    reply(self, Ok(Resp::Status(st, None)));
                }
            },
            Req::VoteInit(vr) => {
                if !self.nodes[n].proxy || vr.candidate != self.nodes[n].id {
                    return reply(self, Ok(Resp::Status(400, None)));
                }
                if self.nodes[n].non_electable {
                    return reply(self, Ok(Resp::Status(409, None)));
                }
                if !self.is_primary(n) {
                    self.elect(n, vr, None);
                }
                reply(self, Ok(Resp::Ok));
            }
            Req::Vote(vr) => {
                let cur = self.nodes[n].smap.clone();
                if !vr.smap.pmap.contains_key(&vr.candidate) {
                    return reply(self, Ok(Resp::Status(400, None)));
                }
                let is_primary = self.is_primary(n);
                let silent = self.now - self.nodes[n].primary_contact;
                let voter = Voter {
                    held: &cur,
                    is_primary,
                    silent: Duration::from_millis(silent),
                    interval: Duration::from_millis(IV),
                };
                if let Some(b) = election::vote_before_probe(&voter, &vr.primary, vr.smap.version) {
                    let r = if b == Ballot::Yes || self.rules == Rules::AlwaysYes {
                        Resp::Yes
                    } else {
                        Resp::No
                    };
                    return reply(self, Ok(r));
                }
                let p = cur.node(&vr.primary).and_then(|p| self.idx(&p.daemon_id));
                let t = self.spawn(n, Kind::Detached, None, Some((call, from)));
                self.tasks.get_mut(&t).unwrap().kind = Kind::VoteServe {
                    vr,
                    held: cur,
                    is_primary,
                    silent,
                };
                match p {
                    Some(p) => self.call(t, 0, p, Req::GetSmap, 1, PROBE),
                    None => self.step(t),
                }
            }
            Req::Metasync { smap, bmd } => {
                // Ais-Caller-Id: only the primary our Smap names, or a sender whose (at
                // least as new) Smap names itself.
                let caller = &self.nodes[from].id;
                let cur = &self.nodes[n].smap;
                let names_sender = smap.as_ref().is_some_and(|s| {
                    s.proxy_si.daemon_id == *caller
                        && s.uuid == cur.uuid
                        && s.version >= cur.version
                });
                if cur.version > 0 && cur.proxy_si.daemon_id != *caller && !names_sender {
                    if self.verbose {
                        let m = format!(
                            "{} refuses metasync from {caller} (ours v{} names {})",
                            self.nodes[n].id, cur.version, cur.proxy_si.daemon_id
                        );
                        self.log(m);
                    }
                    return reply(self, Ok(Resp::Status(409, Some(Decision::Older))));
                }
                if self.is_primary(n) {
                    let cur = &self.nodes[n].smap;
                    let newer = smap.as_ref().is_some_and(|s| {
                        s.uuid == cur.uuid
                            && s.version > cur.version
                            && s.proxy_si.daemon_id != self.nodes[n].id
                    });
                    if !newer {
                        return reply(self, Ok(Resp::Status(409, None)));
                    }
                }
                let from_primary = smap.is_some();
                match self.apply(n, smap, bmd, Via::Push) {
                    Err(d) => reply(self, Ok(Resp::Status(409, Some(d)))),
                    Ok(()) => {
                        if from_primary && !self.is_primary(n) {
                            self.nodes[n].primary_contact = self.now;
                        }
                        reply(self, Ok(Resp::Ok));
                    }
                }
            }
        }
    }

    fn digest(&self, n: usize) -> u64 {
        // Every node's Snode is in the initial map of p0's cluster; look it up anywhere.
        let id = &self.nodes[n].id;
        self.nodes
            .iter()
            .find_map(|x| x.smap.node(id).map(|s| s.id_digest))
            .unwrap_or(n as u64)
    }

    // ---- events ----
    fn node_of(&self, ev: &Ev) -> Option<(usize, Option<u32>)> {
        match ev {
            Ev::Msg(m) => Some((m.to, None)),
            Ev::Timer { node, inc, .. } => Some((*node, Some(*inc))),
            Ev::CallTimeout { call, .. } | Ev::Retry { call } => {
                self.calls.get(call).map(|c| (c.caller, Some(c.inc)))
            }
            _ => None,
        }
    }

    fn handle(&mut self, ev: Ev) {
        if let Some((n, inc)) = self.node_of(&ev) {
            if inc.is_some_and(|i| i != self.nodes[n].inc) || !self.nodes[n].alive {
                // A dead node refuses connections: the caller learns at once.
                if let Ev::Msg(Msg {
                    call,
                    from,
                    to,
                    body: Body::Req(_),
                }) = ev
                {
                    self.send(call, to, from, Body::Resp(Err(())));
                }
                return;
            }
            if let Ev::Msg(m) = &ev {
                if !self.connected(m.from, m.to) {
                    return;
                }
            }
            if self.nodes[n].paused {
                self.nodes[n].backlog.push(ev);
                return;
            }
        }
        match ev {
            Ev::Msg(Msg {
                call,
                from,
                to,
                body,
            }) => match body {
                Body::Req(r) => self.serve(to, call, from, r),
                Body::Resp(r) => {
                    if let Some(b) = self.client_calls.remove(&call) {
                        return self.client_reply(b, r);
                    }
                    let Some(c) = self.calls.get_mut(&call) else {
                        return;
                    };
                    if c.done || c.inc != self.nodes[to].inc {
                        return;
                    }
                    if r.is_err() {
                        return self.call_failed(call);
                    }
                    c.done = true;
                    let (task, tag) = (c.task, c.tag);
                    self.complete(task, tag, r);
                }
            },
            Ev::Timer { task, .. } => self.complete(task, TAG_TIMER, Ok(Resp::Ok)),
            Ev::CallTimeout { call, attempt } => {
                let c = &self.calls[&call];
                if !c.done && c.attempt == attempt {
                    self.call_failed(call);
                }
            }
            Ev::Retry { call } => {
                let c = self.calls.get_mut(&call).unwrap();
                c.attempt -= 1000;
                self.attempt(call);
            }
            Ev::Fault(f) => self.fault(f),
            Ev::Client => self.client(),
        }
    }

    fn current_primary(&self) -> usize {
        // The primary most live nodes name (else p0).
        let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
        for n in self.nodes.iter().filter(|n| n.alive) {
            *votes.entry(n.smap.proxy_si.daemon_id.as_str()).or_default() += 1;
        }
        let best = votes
            .iter()
            .max_by_key(|(_, c)| **c)
            .map(|(id, _)| *id)
            .unwrap_or("p0");
        self.idx(best).unwrap_or(0)
    }

    fn fault(&mut self, f: Fault) {
        let pick = |s: &Sim, v: usize| {
            if v == usize::MAX {
                s.current_primary()
            } else {
                v
            }
        };
        match f {
            Fault::Kill(v) => {
                let v = pick(self, v);
                if self.nodes[v].alive {
                    self.log(format!("kill {}", self.nodes[v].id));
                    self.c.kills += 1;
                    self.nodes[v].alive = false;
                    self.nodes[v].paused = false;
                    self.nodes[v].backlog.clear();
                    self.kill_tasks(v);
                    self.nodes[v].inc += 1;
                }
            }
            Fault::Restart(v) => {
                // Restart whichever node is dead (the victim was picked at kill time).
                if let Some(v) = (0..self.nodes.len())
                    .find(|&i| !self.nodes[i].alive && (v == usize::MAX || i == v))
                {
                    self.log(format!("restart {}", self.nodes[v].id));
                    self.c.restarts += 1;
                    self.nodes[v].alive = true;
                    self.nodes[v].inc += 1;
                    self.start_node(v);
                }
            }
            Fault::Pause(v) => {
                let v = pick(self, v);
                if self.nodes[v].alive && !self.nodes[v].paused {
                    self.log(format!("pause {}", self.nodes[v].id));
                    self.c.pauses += 1;
                    self.nodes[v].paused = true;
                }
            }
            Fault::Resume(v) => {
                if let Some(v) = (0..self.nodes.len())
                    .find(|&i| self.nodes[i].paused && (v == usize::MAX || i == v))
                {
                    self.log(format!("resume {}", self.nodes[v].id));
                    self.nodes[v].paused = false;
                    for ev in std::mem::take(&mut self.nodes[v].backlog) {
                        self.at(self.now, ev);
                    }
                }
            }
            Fault::Partition(v, with) => {
                if self.side.is_none() {
                    let v = pick(self, v);
                    let mut s = BTreeSet::from([v]);
                    if let Some(w) = with {
                        s.insert(w);
                    }
                    self.log(format!("partition {s:?}"));
                    self.c.partitions += 1;
                    self.partitioned_run = true;
                    self.ever_partitioned_primary.insert(v);
                    self.side = Some(s);
                }
            }
            Fault::Heal => {
                if self.side.take().is_some() {
                    self.log("heal".into());
                }
            }
            Fault::DropsOn => self.drops = true,
            Fault::DropsOff => self.drops = false,
        }
    }

    fn client(&mut self) {
        let live: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| self.nodes[i].proxy && self.nodes[i].alive)
            .collect();
        if live.is_empty() {
            return;
        }
        let p = live[self.rng.range(0, live.len() as u64 - 1) as usize];
        self.client_seq += 1;
        let b = format!("b{}", self.client_seq);
        let call = self.next_call;
        self.next_call += 1;
        self.client_calls.insert(call, b.clone());
        self.serve(p, call, p, Req::Create(b));
    }
}

impl Sim {
    fn client_reply(&mut self, b: String, r: Reply) {
        if !matches!(r, Ok(Resp::Ok)) {
            return;
        }
        let Some(&(p, minority_at_commit)) = self.commits.get(&b) else {
            return;
        };
        self.c.acks += 1;
        let minority = minority_at_commit
            || self.deposed(p)
            || self.side.as_ref().is_some_and(|s| s.contains(&p));
        if self.verbose {
            self.log(format!(
                "ack {b} by {} minority {minority}",
                self.nodes[p].id
            ));
        }
        if minority {
            self.c.acks_minority += 1;
        } else {
            self.c.acks_guaranteed += 1;
        }
        self.acks.push(Ack {
            bucket: b,
            guaranteed: !minority,
        });
    }

    /// At most one primary that may change metadata (primacy_ok) and is obeyed by another
    /// node, among the nodes of a component with a majority of all nodes.
    fn check_split_brain(&mut self, heal_window: bool) {
        let total = self.nodes.len();
        let up = |s: &Sim, i: usize| s.nodes[i].alive && !s.nodes[i].paused;
        let comps: Vec<Vec<usize>> = match &self.side {
            None => vec![(0..total).collect()],
            Some(side) => vec![
                (0..total).filter(|i| side.contains(i)).collect(),
                (0..total).filter(|i| !side.contains(i)).collect(),
            ],
        };
        let mut dual = false;
        for comp in comps {
            if comp.len() * 2 <= total {
                continue;
            }
            let obeyed: Vec<usize> = comp
                .iter()
                .copied()
                .filter(|&p| up(self, p) && self.primacy_ok(p))
                .filter(|&p| {
                    comp.iter().any(|&o| {
                        o != p
                            && up(self, o)
                            && self.nodes[o].smap.proxy_si.daemon_id == self.nodes[p].id
                    })
                })
                .filter(|p| !(heal_window && self.ever_partitioned_primary.contains(p)))
                .collect();
            if obeyed.len() <= 1 {
                continue;
            }
            let since = *self.dual_since.get_or_insert(self.now);
            dual = true;
            // A restarted primary's start-up check can race an election that commits
            // right after it asked (a window of one probe round): tolerated while short.
            if self.now - since > 2 * TO {
                let ids: Vec<String> = obeyed
                    .iter()
                    .map(|&p| format!("{} v{}", self.nodes[p].id, self.nodes[p].smap.version))
                    .collect();
                self.violation.get_or_insert(format!(
                    "t={} two obeyed primaries since t={since}: {ids:?}",
                    self.now
                ));
            }
        }
        if !dual {
            self.dual_since = None;
        }
    }

    fn run(&mut self) -> Result<(), String> {
        let end = FAULTS_END + SETTLE;
        let mut last_heal = 0;
        while let Some(Reverse((t, seq))) = self.q.pop() {
            if t > end {
                break;
            }
            self.now = t;
            let ev = self.evs.remove(&seq).unwrap();
            if matches!(ev, Ev::Fault(Fault::Heal)) {
                last_heal = t;
            }
            self.handle(ev);
            let hw = last_heal > 0 && t < last_heal + SETTLE;
            self.check_split_brain(hw);
            if let Some(v) = &self.violation {
                return Err(v.clone());
            }
        }
        self.check_end()
    }

    fn check_end(&mut self) -> Result<(), String> {
        let live: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| self.nodes[i].alive && !self.nodes[i].paused)
            .collect();
        let s0 = &self.nodes[live[0]].smap;
        for &i in &live {
            let s = &self.nodes[i].smap;
            if s.version != s0.version || *s != *s0 {
                return Err(format!(
                    "no convergence: {} holds v{} (primary {}), {} holds v{} (primary {})",
                    self.nodes[live[0]].id,
                    s0.version,
                    s0.proxy_si.daemon_id,
                    self.nodes[i].id,
                    s.version,
                    s.proxy_si.daemon_id
                ));
            }
        }
        let p = s0.proxy_si.daemon_id.clone();
        let pi = self.idx(&p).ok_or("primary unknown")?;
        if !self.nodes[pi].alive
            || !self.nodes[pi].proxy
            || self.nodes[pi].non_electable
            || !s0.pmap.contains_key(&p)
        {
            return Err(format!(
                "final primary {p} is not a live electable proxy of the map"
            ));
        }
        for a in &self.acks {
            let missing: Vec<&str> = live
                .iter()
                .filter(|&&i| !self.nodes[i].bmd.buckets.contains(&a.bucket))
                .map(|&i| self.nodes[i].id.as_str())
                .collect();
            if missing.is_empty() {
                continue;
            }
            if a.guaranteed {
                return Err(format!(
                    "acknowledged bucket {} missing on {missing:?}",
                    a.bucket
                ));
            }
            self.c.lost_minority += 1;
        }
        Ok(())
    }
}

fn run_seeds(
    np: usize,
    nt: usize,
    seeds: std::ops::Range<u64>,
    rules: Rules,
    parts: bool,
) -> (Counters, Vec<(u64, String, Vec<String>)>) {
    let mut tot = Counters::default();
    let mut fails = vec![];
    for seed in seeds {
        let mut sim = Sim::new(np, nt, seed, rules, parts);
        let r = sim.run();
        let c = sim.c;
        tot.elections += c.elections;
        tot.rejoins += c.rejoins;
        tot.pauses += c.pauses;
        tot.partitions += c.partitions;
        tot.kills += c.kills;
        tot.restarts += c.restarts;
        tot.acks += c.acks;
        tot.acks_guaranteed += c.acks_guaranteed;
        tot.acks_minority += c.acks_minority;
        tot.lost_minority += c.lost_minority;
        if c.lost_minority > 0 && !sim.partitioned_run {
            fails.push((
                seed,
                "minority loss in a run without partition".into(),
                sim.trace.clone(),
            ));
        }
        if let Err(e) = r {
            fails.push((seed, e, sim.trace));
        }
    }
    (tot, fails)
}

fn report(name: &str, np: usize, nt: usize, n: u64, parts: bool) -> Counters {
    let t = std::time::Instant::now();
    let (c, fails) = run_seeds(np, nt, 0..n, Rules::Real, parts);
    eprintln!("{name}: {n} seeds in {:?}: {c:?}", t.elapsed());
    for (seed, e, _) in &fails {
        eprintln!("{name}: seed {seed}: {e}");
    }
    if let Some((seed, e, trace)) = fails.first() {
        let tail: Vec<&String> = trace.iter().rev().take(40).rev().collect();
        panic!(
            "{} of {n} seeds fail; seed {seed}: {e}\ntrace:\n{tail:#?}",
            fails.len()
        );
    }
    c
}

#[test]
fn election_3_proxies_3_targets() {
    let c = report("3+3", 3, 3, 200, false);
    assert!(c.elections > 50 && c.rejoins > 10 && c.pauses > 50, "{c:?}");
}

#[test]
fn election_5_proxies_2_targets() {
    let c = report("5+2", 5, 2, 200, false);
    assert!(c.elections > 50 && c.rejoins > 10 && c.pauses > 50, "{c:?}");
}

/// Partitions of the primary (alone or with one target) that heal. (It found the last gap:
/// a primary deposed while its push was still retrying acknowledged the bucket; metasync
/// now reports that as deposed.)
#[test]
fn election_partitions() {
    let c = report("3+3 partitions", 3, 3, 200, true);
    assert!(c.partitions > 20, "{c:?}");
    report("5+2 partitions", 5, 2, 200, true);
}

/// `SIM=np,nt,seed,parts cargo test ... one_seed -- --ignored --nocapture`: one seed's trace.
#[test]
#[ignore = "debugging aid"]
fn one_seed() {
    let a: Vec<u64> = std::env::var("SIM")
        .unwrap_or_default()
        .split(',')
        .filter_map(|x| x.parse().ok())
        .collect();
    if a.len() != 4 {
        return; // not asked for (e.g. `--include-ignored`)
    }
    let mut sim = Sim::new(a[0] as usize, a[1] as usize, a[2], Rules::Real, a[3] == 1);
    sim.verbose = true;
    let r = sim.run();
    for l in &sim.trace {
        eprintln!("{l}");
    }
    eprintln!("{r:?}");
}

/// Each broken rule fails on seeds the real rules pass. Without the +100 jump a deposed
/// primary's pushes are already refused by the caller check (metasync `Ais-Caller-Id`), so
/// `NoBump` shows only with partitions (a minority primary's versions then overtake).
/// `AlwaysYes` too: since the elected primary adopts the newest BMD and pushes (A, B),
/// needless elections without partitions no longer lose a bucket (3+3 seed 95 with
/// partitions: no convergence).
#[test]
fn broken_rules_are_caught() {
    for (rules, parts) in [(Rules::AlwaysYes, true), (Rules::NoBump, true)] {
        let (_, real) = run_seeds(3, 3, 0..200, Rules::Real, parts);
        let real: BTreeSet<u64> = real.iter().map(|f| f.0).collect();
        let (_, fails) = run_seeds(3, 3, 0..200, rules, parts);
        let fails: Vec<_> = fails.iter().filter(|f| !real.contains(&f.0)).collect();
        assert!(
            !fails.is_empty(),
            "{rules:?}: the checker fails no seed that the real rules pass"
        );
        eprintln!(
            "{rules:?}: {} more seeds fail than with the real rules, e.g. seed {}: {}",
            fails.len(),
            fails[0].0,
            fails[0].1
        );
    }
}
