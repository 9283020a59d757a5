// Data-plane datagram layout (UDP 6783). One datagram carries one or more Ethernet frames for the same
// next hop, sealed as a whole. Every datagram (data or heartbeat) has the same 14-byte header, which is
// the AEAD's additional data, so nothing in it can be altered undetected.
//
//   off  size  field
//   0    1     type        DATA=1, HEARTBEAT=2, HEARTBEAT_ACK=3
//   1    1     keyGen      low 8 bits of the key generation that sealed it (rekeying, dataplane/rekey.ts);
//                          the receiver opens with that generation's key (current, or previous in its grace)
//   2    4     receiverIdx u32 BE, chosen by the RECEIVER in its hello: finds the session without trusting
//                          the source address (NAT may rewrite it)
//   6    8     counter     u64 BE, per direction, starts at 1, strictly increasing; runs on across key
//                          generations (one replay window covers them)
//   14   n     body        unencrypted: plaintext; encrypted: AES-256-GCM ciphertext || 16-byte tag
//
// AES-256-GCM nonce (12 bytes) = 4-byte salt of the direction (from the KDF) || counter (8 bytes BE).
// Each (key, direction) pair has its own salt, and the direction's counter never repeats, so a nonce
// never repeats under one key.
//
// Plaintext body of a DATA datagram: frames back to back, each
//   0   6   origin peer (48-bit name; the peer whose container sent the frame)
//   6   6   destination peer; ff:ff:SS:SS:SS:SS = broadcast number SS (u32) along origin's tree
//           (dataplane/broadcast-dedup.ts; ff:ff:ff:ff:ff:ff = a broadcast without a number)
//   12  2   frame length (u16 BE); on a session whose ends both announced csumPartial (hello.ts), bit 15
//           is the "checksum partial" flag and bits 0..14 the length (such ends never send a frame of
//           32768 bytes or more: csumPartial is announced only with an MTU that keeps every frame under
//           it, MAX_MTU itself allows larger). Flagged: the frame is IPv4 TCP (Ethernet + IPv4, not a
//           fragment, IP total length = the rest of the frame, TCP header inside it) whose TCP checksum
//           field holds only the folded pseudo-header sum, exactly what a NEEDS_CSUM virtio_net_hdr with
//           csum_start = 14 + IHL, csum_offset = 16 leaves: the sender skipped summing the payload
//           (the AEAD authenticates it across the tunnel). Only a frame's destination peer receives it
//           flagged (the sender sends it so only when the datagram's next hop is the destination);
//           anything that passes a frame on (JS, relays) completes the checksum first. A flagged frame
//           that is not such a frame is a bad frame (dropped, counted).
//   14  len Ethernet frame
// A HEARTBEAT body is 8 bytes: the sender's send time in ms (echoed in the ACK for RTT).

export const DATA_HEADER_BYTES = 14;
export const AEAD_TAG_BYTES = 16;
export const AEAD_SALT_BYTES = 4;
export const AEAD_KEY_BYTES = 32;
export const FRAME_HEADER_BYTES = 14;
/** Bit 15 of a frame's length field on a csumPartial session: its TCP checksum is partial (above). */
export const FRAME_LEN_CSUM_PARTIAL = 0x8000;

export const PACKET_TYPE_DATA = 1;
export const PACKET_TYPE_HEARTBEAT = 2;
export const PACKET_TYPE_HEARTBEAT_ACK = 3;

export const OFF_TYPE = 0;
export const OFF_KEYGEN = 1;
export const OFF_RECEIVER_IDX = 2;
export const OFF_COUNTER = 6;

export const BROADCAST_PEER = 0xffffffffffff;

/** Largest datagram we build or accept (UDP payload). */
export const MAX_DATAGRAM_BYTES = 65507;
