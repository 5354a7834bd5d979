//! A small blocking rtnetlink client for the per-container path.
//!
//! No runtime and no extra thread: a plain `NETLINK_ROUTE` socket on which a whole batch of
//! requests goes out in one datagram. The kernel runs them in order, each on its own (one
//! failing does not stop the ones after it) and answers each with its reply (if any) and an
//! acknowledgement, so a batch costs one round trip. The messages are built with
//! rtnetlink's builders and netlink-packet-route's types.

use std::os::fd::OwnedFd;

use rtnetlink::packet_core::{
    NetlinkBuffer, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_REQUEST,
};
use rtnetlink::packet_route::RouteNetlinkMessage;
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType};

/// One request's outcome: its reply message (for a get), or the errno it failed with.
pub(crate) type Reply = std::result::Result<Option<RouteNetlinkMessage>, rustix::io::Errno>;

pub(crate) struct Socket {
    fd: OwnedFd,
    seq: u32,
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

impl Socket {
    /// A socket in the network namespace of the calling thread.
    pub fn open() -> std::io::Result<Socket> {
        // NETLINK_ROUTE is protocol 0, which rustix spells `None`.
        let fd = rustix::net::socket_with(
            AddressFamily::NETLINK,
            SocketType::RAW,
            SocketFlags::CLOEXEC,
            None,
        )?;
        Ok(Socket::from_fd(fd))
    }

    /// Wraps a `NETLINK_ROUTE` socket (e.g. one opened in another network namespace).
    pub fn from_fd(fd: OwnedFd) -> Socket {
        Socket {
            fd,
            seq: rand::random::<u32>() >> 1,
        }
    }

    /// Sends `requests` (message, extra `NLM_F_*` flags) in one datagram and returns one
    /// reply per request, in order.
    pub fn batch(
        &mut self,
        requests: Vec<(RouteNetlinkMessage, u16)>,
    ) -> std::io::Result<Vec<Reply>> {
        let first = self.seq.wrapping_add(1);
        let mut out = Vec::new();
        for (msg, flags) in requests {
            self.seq = self.seq.wrapping_add(1);
            let mut m = NetlinkMessage::from(msg);
            m.header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
            m.header.sequence_number = self.seq;
            m.finalize();
            let at = out.len();
            out.resize(at + align4(m.buffer_len()), 0);
            m.serialize(&mut out[at..at + m.buffer_len()]);
        }
        let n = self.seq.wrapping_sub(first).wrapping_add(1) as usize;
        let sent = rustix::net::send(&self.fd, &out, SendFlags::empty())?;
        if sent != out.len() {
            return Err(std::io::Error::other("netlink: short send"));
        }

        let mut replies: Vec<Option<Reply>> = vec![None; n];
        let mut data: Vec<Option<RouteNetlinkMessage>> = vec![None; n];
        let mut pending = n;
        let mut buf = vec![0u8; 64 * 1024];
        while pending > 0 {
            let (_, len) = rustix::net::recv(&self.fd, &mut buf[..], RecvFlags::empty())?;
            let len = len.min(buf.len());
            let mut off = 0;
            while off + 16 <= len {
                let frame = &buf[off..len];
                let mlen = NetlinkBuffer::new_checked(frame)
                    .map_err(|e| std::io::Error::other(format!("netlink: {e}")))?
                    .length() as usize;
                if mlen < 16 || mlen > frame.len() {
                    return Err(std::io::Error::other("netlink: bad message length"));
                }
                let msg = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&frame[..mlen])
                    .map_err(|e| std::io::Error::other(format!("netlink: {e}")))?;
                off += align4(mlen);
                let i = msg.header.sequence_number.wrapping_sub(first) as usize;
                if i >= n || replies[i].is_some() {
                    continue; // not ours (or a duplicate): ignore
                }
                match msg.payload {
                    NetlinkPayload::Error(e) => {
                        let code = e.raw_code();
                        replies[i] = Some(if code == 0 {
                            Ok(data[i].take())
                        } else {
                            Err(rustix::io::Errno::from_raw_os_error(-code))
                        });
                        pending -= 1;
                    }
                    NetlinkPayload::InnerMessage(inner) => data[i] = Some(inner),
                    _ => {}
                }
            }
        }
        Ok(replies.into_iter().map(|r| r.unwrap_or(Ok(None))).collect())
    }
}
