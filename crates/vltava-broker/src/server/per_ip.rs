//! `max.connections.per.ip`: how many connections one client address may hold at once.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Open connections by client address, under a limit.
#[derive(Debug)]
pub struct ConnectionsPerIp {
    limit: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One admitted connection; dropping it frees its place.
#[derive(Debug)]
pub struct IpPermit {
    owner: Arc<ConnectionsPerIp>,
    ip: IpAddr,
}

impl ConnectionsPerIp {
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(ConnectionsPerIp {
            limit,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// A permit for one more connection from `ip`, or `None` when it holds `limit` already.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<IpPermit> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(ip).or_insert(0);
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(IpPermit {
            owner: self.clone(),
            ip,
        })
    }
}

impl Drop for IpPermit {
    fn drop(&mut self) {
        let mut open = self.owner.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.ip) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                // Entries for addresses that left are dropped, so the map follows open ones.
                open.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_beyond_the_limit_and_frees_a_place_on_drop() {
        let limits = ConnectionsPerIp::new(2);
        let ip = IpAddr::from([127, 0, 0, 1]);
        let first = limits.admit(ip);
        let second = limits.admit(ip);
        assert!(first.is_some() && second.is_some());
        assert!(limits.admit(ip).is_none());
        assert!(limits.admit(IpAddr::from([127, 0, 0, 2])).is_some());
        drop(first);
        assert!(limits.admit(ip).is_some());
    }
}
