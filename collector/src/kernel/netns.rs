//! Network namespaces by inode number, for the HTTP sweep by namespace (`protocols::http::Sweep`)
//! and the listener walk at start (`protocols::tcp::listeners`): a namespace is reached through a process in it (`/proc/PID/ns/net`) and entered by the
//! calling thread alone.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;

/// The inode number of the agent's own network namespace.
pub fn own_inode() -> io::Result<u64> {
    Ok(std::fs::metadata("/proc/self/ns/net")?.ino())
}

/// The namespace `inode`, opened through `pid` when that process is still in it, else
/// through the first process found in it; with the pid it was opened through. `None`: no
/// process is left in it.
pub fn open(inode: u64, pid: u32) -> Option<(OwnedFd, u32)> {
    if pid != 0 {
        if let Some(fd) = open_of(inode, pid) {
            return Some((fd, pid));
        }
    }
    let procs = std::fs::read_dir("/proc").ok()?;
    procs
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&other| other != pid)
        .find_map(|other| open_of(inode, other).map(|fd| (fd, other)))
}

/// `/proc/PID/ns/net`, when it is the namespace `inode` (checked on the open file: the
/// process may have gone, and its pid been taken, in between).
fn open_of(inode: u64, pid: u32) -> Option<OwnedFd> {
    let file = File::open(format!("/proc/{pid}/ns/net")).ok()?;
    (file.metadata().ok()?.ino() == inode).then(|| file.into())
}

/// Moves the calling thread (only it) into the namespace `fd`.
pub fn enter(fd: &OwnedFd) -> io::Result<()> {
    // SAFETY: setns takes a file descriptor that stays open for the call and a flag; it
    // changes the calling thread's namespace and touches no memory of ours.
    if unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::{open, own_inode};

    #[test]
    fn a_namespace_is_found_through_a_process_in_it() {
        let own = own_inode().expect("/proc/self/ns/net");
        let me = std::process::id();
        let (_, pid) = open(own, me).expect("this process is in its own namespace");
        assert_eq!(pid, me);
        let (_, other) = open(own, u32::MAX).expect("found through another process in it");
        assert_ne!(other, u32::MAX, "not the stale pid");
        assert!(
            open(u64::MAX, me).is_none(),
            "no process is in a namespace that is not"
        );
    }
}
