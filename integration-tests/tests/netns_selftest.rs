//! Self-test of the network namespace helpers. Needs root (namespaces, nftables) and
//! python3; run with `sudo -E cargo test -p sonde-integration-tests -- --include-ignored`.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};

use sonde_integration_tests::netns::{
    add_drop_rule, nstat_retrans_segs, remove_drop_rule, NetnsPair, Side,
};
use sonde_integration_tests::require_root;

fn netns_list() -> String {
    String::from_utf8(
        Command::new("ip")
            .args(["netns", "list"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
}

#[test]
#[ignore = "needs root"]
fn pair_connects_and_cleans_up() {
    require_root();
    let pair = NetnsPair::create("selftest", 201).unwrap();
    assert!(pair.veth_a.len() <= 15 && pair.veth_b.len() <= 15);
    assert_eq!(pair.addr_b.to_string(), "10.201.0.2");
    for (side, dst) in [
        (Side::A, pair.addr_b.to_string()),
        (Side::B, pair.addr_a.to_string()),
        (Side::A, pair.addr6_b.to_string()),
    ] {
        let out = pair
            .output(side, "ping", &["-c", "1", "-W", "2", &dst])
            .unwrap();
        assert!(out.status.success(), "ping {dst}: {out:?}");
    }
    let names = (pair.a.clone(), pair.b.clone());
    assert!(netns_list().contains(&names.0));
    drop(pair);
    let list = netns_list();
    assert!(
        !list.contains(&names.0) && !list.contains(&names.1),
        "{list}"
    );
}

#[test]
#[ignore = "needs root"]
fn drop_rule_causes_retransmissions() {
    require_root();
    let pair = NetnsPair::create("droptest", 202).unwrap();
    // B receives until EOF, then reports the byte count and exits.
    let server = "import signal, socket\n\
                  signal.alarm(60)\n\
                  s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
                  s.bind(('0.0.0.0', 5201)); s.listen(1); print('listening', flush=True)\n\
                  c, _ = s.accept(); n = 0\n\
                  while True:\n    d = c.recv(65536)\n    if not d: break\n    n += len(d)\n\
                  print(n, flush=True)\n";
    let mut srv = pair
        .command(Side::B, "python3", &["-c", server])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut srv_out = BufReader::new(srv.stdout.take().unwrap());
    let mut line = String::new();
    srv_out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "listening");

    add_drop_rule(&pair.b, 20).unwrap();
    let before = nstat_retrans_segs(&pair.a).unwrap();
    let send = format!("head -c 3000000 /dev/zero > /dev/tcp/{}/5201", pair.addr_b);
    let out = pair.output(Side::A, "bash", &["-c", &send]).unwrap();
    assert!(out.status.success(), "{out:?}");
    line.clear();
    srv_out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "3000000");
    assert!(srv.wait().unwrap().success());
    let after = nstat_retrans_segs(&pair.a).unwrap();
    assert!(after > before, "no retransmissions: {before} -> {after}");

    remove_drop_rule(&pair.b).unwrap();
    let tables = pair.output(Side::B, "nft", &["list", "tables"]).unwrap();
    assert!(!String::from_utf8_lossy(&tables.stdout).contains("sonde_test"));
    assert!(remove_drop_rule(&pair.b).is_err());
}
