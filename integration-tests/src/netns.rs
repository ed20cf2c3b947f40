//! Two test hosts in network namespaces joined by a veth pair, removed on drop.
//!
//! Everything here shells out to `ip` (package iproute2) and `nft` (package nftables) and
//! needs root.

use std::io::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};

/// Which end of a [`NetnsPair`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Namespace `a`, address `.1`.
    A,
    /// Namespace `b`, address `.2`.
    B,
}

/// Distinguishes pairs created by the same process.
static NEXT_PAIR: AtomicU32 = AtomicU32::new(0);

/// Two network namespaces joined by a veth pair, with IPv4 and IPv6 addresses.
///
/// Namespace `a` holds `10.<octet>.0.1/24` and `fd00:<octet>::1/64`, namespace `b` holds
/// `.2` / `::2` (the IPv6 group is the octet's value, so octet 42 gives `fd00:2a::1`).
/// Dropping the pair deletes both namespaces, which also removes the veth pair.
pub struct NetnsPair {
    /// Name of namespace `a`.
    pub a: String,
    /// Name of namespace `b`.
    pub b: String,
    /// veth interface name inside `a`.
    pub veth_a: String,
    /// veth interface name inside `b`.
    pub veth_b: String,
    /// IPv4 address of `a`.
    pub addr_a: Ipv4Addr,
    /// IPv4 address of `b`.
    pub addr_b: Ipv4Addr,
    /// IPv6 address of `a`.
    pub addr6_a: Ipv6Addr,
    /// IPv6 address of `b`.
    pub addr6_b: Ipv6Addr,
    /// Namespaces created so far (deleted on drop).
    owned: Vec<String>,
}

impl NetnsPair {
    /// Create the namespaces, the veth pair and the addresses, and bring every link up.
    ///
    /// Names contain `prefix`, the process id and a per-process counter, so concurrent tests
    /// and test binaries do not collide. On error, whatever was created is removed again.
    pub fn create(prefix: &str, subnet_octet: u8) -> anyhow::Result<Self> {
        let pid = std::process::id();
        let n = NEXT_PAIR.fetch_add(1, Ordering::Relaxed);
        let base = format!("sonde-{prefix}-{pid}-{n}");
        // "sv" + pid (≤ 6 hex digits) + counter + side stays within IFNAMSIZ - 1 = 15.
        let veth = |side: char| format!("sv{pid:x}x{:x}{side}", n % 0xfff);
        let seg = u16::from(subnet_octet);
        let mut pair = NetnsPair {
            a: format!("{base}-a"),
            b: format!("{base}-b"),
            veth_a: veth('a'),
            veth_b: veth('b'),
            addr_a: Ipv4Addr::new(10, subnet_octet, 0, 1),
            addr_b: Ipv4Addr::new(10, subnet_octet, 0, 2),
            addr6_a: Ipv6Addr::new(0xfd00, seg, 0, 0, 0, 0, 0, 1),
            addr6_b: Ipv6Addr::new(0xfd00, seg, 0, 0, 0, 0, 0, 2),
            owned: Vec::new(),
        };
        for ns in [pair.a.clone(), pair.b.clone()] {
            run(Command::new("ip").args(["netns", "add", &ns]))?;
            pair.owned.push(ns);
        }
        // Create each end directly in its namespace, so nothing is left behind in the root
        // namespace if a later step fails.
        run(Command::new("ip").args([
            "link",
            "add",
            &pair.veth_a,
            "netns",
            &pair.a,
            "type",
            "veth",
            "peer",
            "name",
            &pair.veth_b,
            "netns",
            &pair.b,
        ]))?;
        for side in [Side::A, Side::B] {
            let ns = pair.ns(side).to_owned();
            let dev = pair.veth(side).to_owned();
            let v4 = format!("{}/24", pair.addr(side));
            let v6 = format!("{}/64", pair.addr6(side));
            run(Command::new("ip").args(["-n", &ns, "link", "set", "lo", "up"]))?;
            run(Command::new("ip").args(["-n", &ns, "addr", "add", &v4, "dev", &dev]))?;
            run(Command::new("ip")
                .args(["-n", &ns, "-6", "addr", "add", &v6, "dev", &dev, "nodad"]))?;
            run(Command::new("ip").args(["-n", &ns, "link", "set", &dev, "up"]))?;
        }
        pair.wait_links_up(Duration::from_secs(5))?;
        Ok(pair)
    }

    fn wait_links_up(&self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        for side in [Side::A, Side::B] {
            let path = format!("/sys/class/net/{}/operstate", self.veth(side));
            loop {
                let out = self.output(side, "cat", &[&path])?;
                if String::from_utf8_lossy(&out.stdout).trim() == "up" {
                    break;
                }
                if Instant::now() >= deadline {
                    bail!("{} in {} did not come up", self.veth(side), self.ns(side));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Ok(())
    }

    /// Namespace name of `side`.
    pub fn ns(&self, side: Side) -> &str {
        match side {
            Side::A => &self.a,
            Side::B => &self.b,
        }
    }

    /// veth interface name of `side`.
    pub fn veth(&self, side: Side) -> &str {
        match side {
            Side::A => &self.veth_a,
            Side::B => &self.veth_b,
        }
    }

    /// IPv4 address of `side`.
    pub fn addr(&self, side: Side) -> Ipv4Addr {
        match side {
            Side::A => self.addr_a,
            Side::B => self.addr_b,
        }
    }

    /// IPv6 address of `side`.
    pub fn addr6(&self, side: Side) -> Ipv6Addr {
        match side {
            Side::A => self.addr6_a,
            Side::B => self.addr6_b,
        }
    }

    /// `ip netns exec <ns of side> program args...`, not yet started.
    pub fn command(&self, side: Side, program: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", self.ns(side), program])
            .args(args);
        cmd
    }

    /// Start `program args...` inside `side` (stdio inherited unless changed later).
    pub fn spawn(&self, side: Side, program: &str, args: &[&str]) -> anyhow::Result<Child> {
        self.command(side, program, args)
            .spawn()
            .with_context(|| format!("spawning {program} in {}", self.ns(side)))
    }

    /// Run `program args...` inside `side` to completion and capture its output (a non-zero
    /// exit is not an error here; check `status`).
    pub fn output(&self, side: Side, program: &str, args: &[&str]) -> anyhow::Result<Output> {
        self.command(side, program, args)
            .output()
            .with_context(|| format!("running {program} in {}", self.ns(side)))
    }
}

impl Drop for NetnsPair {
    fn drop(&mut self) {
        for ns in self.owned.drain(..) {
            if let Err(e) = run(Command::new("ip").args(["netns", "del", &ns])) {
                eprintln!("[netns] cleanup of {ns} failed: {e:#}");
            }
        }
    }
}

/// Run a command to completion; error (with its stderr) unless it exits 0. Returns stdout.
pub fn run(cmd: &mut Command) -> anyhow::Result<String> {
    let shown = format!("{cmd:?}");
    let out = cmd.output().with_context(|| {
        format!("running {shown} (are iproute2 and nftables installed, and are we root?)")
    })?;
    if !out.status.success() {
        bail!(
            "{shown} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Parse `/proc/net/snmp`-style text (pairs of `Proto: names` / `Proto: values` lines) and
/// return counter `field` of protocol `proto` (e.g. `"Tcp"`, `"RetransSegs"`).
pub fn parse_snmp(text: &str, proto: &str, field: &str) -> anyhow::Result<u64> {
    let tag = format!("{proto}:");
    let mut lines = text.lines().filter(|l| l.starts_with(&tag));
    let names = lines
        .next()
        .with_context(|| format!("no {tag} header line"))?;
    let values = lines
        .next()
        .with_context(|| format!("no {tag} value line"))?;
    let idx = names
        .split_whitespace()
        .position(|n| n == field)
        .with_context(|| format!("no {proto} counter {field}"))?;
    let raw = values
        .split_whitespace()
        .nth(idx)
        .with_context(|| format!("no value for {proto} {field}"))?;
    raw.parse()
        .with_context(|| format!("{proto} {field} = {raw:?} is not a counter"))
}

/// `Tcp: RetransSegs` of namespace `ns`, read from its `/proc/net/snmp`.
pub fn nstat_retrans_segs(ns: &str) -> anyhow::Result<u64> {
    let text = run(Command::new("ip").args(["netns", "exec", ns, "cat", "/proc/net/snmp"]))?;
    parse_snmp(&text, "Tcp", "RetransSegs")
}

/// Drop `percent`% of the TCP packets *arriving* in namespace `ns`, at random, with
/// nftables (table `inet sonde_test`, chain `in` on the input hook), counting them
/// ([`drop_rule_packets`]). Replaces any rule a previous call installed.
///
/// The peer sending to `ns` sees real loss and retransmits, so its `TcpRetransSegs` (see
/// [`nstat_retrans_segs`]) grows. The drop is deliberately not on the output hook: a local
/// output drop is reported to TCP synchronously as a failed send, which is retried as a
/// first transmission and never counted as a retransmission.
pub fn add_drop_rule(ns: &str, percent: u8) -> anyhow::Result<()> {
    add_drop_rule_matching(ns, percent, "meta l4proto tcp")
}

/// [`add_drop_rule`] for the packets `matches` (an nftables match, e.g. `tcp dport 80`)
/// selects.
pub fn add_drop_rule_matching(ns: &str, percent: u8, matches: &str) -> anyhow::Result<()> {
    add_drop_rule_on(ns, "input", percent, matches)
}

/// [`add_drop_rule_matching`] on netfilter hook `hook` (`input`, or `output`: packets a
/// local socket sends, which TCP sends again at once, without a retransmission timeout).
pub fn add_drop_rule_on(ns: &str, hook: &str, percent: u8, matches: &str) -> anyhow::Result<()> {
    if percent > 100 {
        bail!("drop percentage {percent} > 100");
    }
    // Deleting first makes the call idempotent; a missing table is not an error here.
    let _ = remove_drop_rule(ns);
    let ruleset = format!(
        "table inet sonde_test {{\n  chain in {{\n    type filter hook {hook} priority 0;\n    \
         {matches} numgen random mod 100 < {percent} counter drop\n  }}\n}}\n"
    );
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns, "nft", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("running nft (install package nftables)")?;
    child
        .stdin
        .take()
        .context("nft stdin")?
        .write_all(ruleset.as_bytes())
        .context("writing the ruleset to nft")?;
    let out = child.wait_with_output().context("waiting for nft")?;
    if !out.status.success() {
        bail!(
            "nft in {ns} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Packets the rule [`add_drop_rule`] installed in namespace `ns` has dropped: its
/// nftables counter.
pub fn drop_rule_packets(ns: &str) -> anyhow::Result<u64> {
    let text = run(Command::new("ip").args([
        "netns",
        "exec",
        ns,
        "nft",
        "list",
        "chain",
        "inet",
        "sonde_test",
        "in",
    ]))?;
    let after = text
        .split("counter packets ")
        .nth(1)
        .with_context(|| format!("no counter in {text:?}"))?;
    after
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("no packet count in {text:?}"))
}

/// Remove the table [`add_drop_rule`] installed in namespace `ns`.
pub fn remove_drop_rule(ns: &str) -> anyhow::Result<()> {
    run(Command::new("ip").args([
        "netns",
        "exec",
        ns,
        "nft",
        "delete",
        "table",
        "inet",
        "sonde_test",
    ]))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_snmp;

    #[test]
    fn parses_tcp_retrans_segs() {
        let text = "Ip: Forwarding DefaultTTL\nIp: 1 64\n\
                    Tcp: RtoAlgorithm ActiveOpens RetransSegs InErrs\nTcp: 1 10 37 0\n";
        assert_eq!(parse_snmp(text, "Tcp", "RetransSegs").ok(), Some(37));
        assert!(parse_snmp(text, "Tcp", "Nope").is_err());
        assert!(parse_snmp(text, "Udp", "InErrors").is_err());
    }
}
