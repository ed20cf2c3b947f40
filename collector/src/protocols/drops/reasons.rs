//! The names of the kernel's drop reasons, from the running kernel's BTF (`enum
//! skb_drop_reason`), so that a reason added after Sonde was built is named too, and one
//! renumbered is not mislabelled.

use libbpf_rs::btf::types::Enum;
use libbpf_rs::btf::Btf;
use sonde_semconv::attr::DROP_REASON_OTHER;

use crate::kernel::contract::SKB_REASONS;

/// The BTF enum the kernel's `kfree_skb` tracepoint takes.
const ENUM: &str = "skb_drop_reason";
/// Its members' common prefix (SKB_NOT_DROPPED_YET and SKB_CONSUMED do not have it: they
/// are not drops, and the kernel program leaves them out).
const PREFIX: &str = "SKB_DROP_REASON_";

/// A name for every reason slot of drops.bpf.c's counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropReasons {
    names: Vec<String>,
    /// Slots the kernel's BTF named.
    named: usize,
}

impl DropReasons {
    /// Names from `(member, value)` pairs of the enum: `SKB_DROP_REASON_NETFILTER_DROP`
    /// is `netfilter_drop`; a slot no member names is `reason_<n>`; the last slot, which
    /// every value past the table shares, is `other`.
    pub fn from_members<'a>(members: impl IntoIterator<Item = (&'a str, i64)>) -> DropReasons {
        let last = SKB_REASONS as usize - 1;
        let mut names: Vec<Option<String>> = vec![None; last];
        for (name, value) in members {
            let Some(reason) = name.strip_prefix(PREFIX) else {
                continue;
            };
            // The enum's end and its subsystem mask are not reasons.
            if reason == "MAX" || reason == "SUBSYS_MASK" {
                continue;
            }
            if let Some(slot) = usize::try_from(value).ok().and_then(|v| names.get_mut(v)) {
                *slot = Some(reason.to_ascii_lowercase());
            }
        }
        let named = names.iter().flatten().count();
        let mut names: Vec<String> = names
            .into_iter()
            .enumerate()
            .map(|(i, n)| n.unwrap_or_else(|| format!("reason_{i}")))
            .collect();
        names.push(DROP_REASON_OTHER.to_owned());
        DropReasons { names, named }
    }

    /// The running kernel's names (`/sys/kernel/btf/vmlinux`).
    pub fn from_running_kernel() -> Result<DropReasons, String> {
        let btf = Btf::from_vmlinux().map_err(|e| format!("reading the kernel's BTF: {e}"))?;
        let en: Enum<'_> = btf
            .type_by_name(ENUM)
            .ok_or_else(|| format!("the kernel's BTF has no enum {ENUM}"))?;
        let members: Vec<(String, i64)> = en
            .iter()
            .filter_map(|m| Some((m.name?.to_str()?.to_owned(), m.value)))
            .collect();
        Ok(DropReasons::from_members(
            members.iter().map(|(n, v)| (n.as_str(), *v)),
        ))
    }

    /// The name of reason slot `slot` (`other` past the table).
    pub fn name(&self, slot: usize) -> &str {
        self.names
            .get(slot)
            .map_or(DROP_REASON_OTHER, String::as_str)
    }

    /// How many reasons the kernel named.
    pub fn named(&self) -> usize {
        self.named
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_kernels_lower_case_and_numbers_where_it_has_none() {
        let r = DropReasons::from_members([
            ("SKB_NOT_DROPPED_YET", 0),
            ("SKB_CONSUMED", 1),
            ("SKB_DROP_REASON_NOT_SPECIFIED", 2),
            ("SKB_DROP_REASON_NO_SOCKET", 3),
            ("SKB_DROP_REASON_NETFILTER_DROP", 12),
            ("SKB_DROP_REASON_MAX", 13),
            ("SKB_DROP_REASON_SUBSYS_MASK", 0xffff_0000),
        ]);
        assert_eq!(r.name(3), "no_socket");
        assert_eq!(r.name(12), "netfilter_drop");
        assert_eq!(r.name(2), "not_specified");
        // Not reasons, or not named: their numbers.
        assert_eq!(r.name(1), "reason_1");
        assert_eq!(r.name(13), "reason_13");
        assert_eq!(r.name(131), "reason_131");
        assert_eq!(r.name(SKB_REASONS as usize - 1), "other");
        assert_eq!(r.name(100_000), "other");
        assert_eq!(r.named(), 3);
    }

    #[test]
    fn the_running_kernel_names_its_reasons() {
        // Every kernel Sonde runs on has BTF (the programs need it).
        let r = DropReasons::from_running_kernel().unwrap_or_else(|e| panic!("{e}"));
        assert!(r.named() > 50, "{}", r.named());
        assert!(
            (0..SKB_REASONS as usize).any(|i| r.name(i) == "netfilter_drop"),
            "{r:?}"
        );
    }
}
